package reconciler_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// A run declares its contract, two domains ack, the rest never do: once the
// deadline has passed, a pass records what is missing and that the run is
// stale.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleDatabaseURL) // e.g. os.Getenv("DATABASE_URL")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	l := ledger.New(ledger.Options{})
	run := uuid.New()
	if err := l.Expect(ctx, pool, run, ledger.StandardRun(300*time.Millisecond)...); err != nil {
		log.Fatal(err)
	}
	for _, a := range []ledger.Ack{
		{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc-7"},
		{RunID: run, Domain: ledger.Policies, Action: ledger.EvaluatePolicy, Error: "policy engine timeout"},
	} {
		if err := l.Ack(ctx, pool, a); err != nil {
			log.Fatal(err)
		}
	}
	// Wait out the deadline; the database clock is the only clock.
	for passed := false; !passed; {
		err := pool.QueryRow(ctx, `SELECT max(deadline_at) < clock_timestamp() FROM rac.expectations WHERE run_id = $1`,
			run).Scan(&passed)
		if err != nil {
			log.Fatal(err)
		}
	}

	rec, err := reconciler.New(pool, reconciler.Options{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := rec.ReconcileRun(ctx, run)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verdict:", res.Verdict)
	fmt.Println("acked:  ", res.Acked)
	fmt.Println("failed: ", res.Failed)
	fmt.Println("missing:", res.Missing)
	fmt.Println("stale:  ", res.Stale)

	// Output:
	// verdict: violated
	// acked:   [incidents/create_incident]
	// failed:  [policies/evaluate_policy]
	// missing: [logs/start_trace logs/complete_trace orchestrator/finalize_run]
	// stale:   true
}
