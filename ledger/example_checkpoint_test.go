package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/ledger"
)

// An orchestrator refuses to finalize a run while its evidence is
// incomplete, and finalizes it, in the same transaction as its own
// bookkeeping, once every domain has acked.
func ExampleLedger_Checkpoint() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleDatabaseURL) // e.g. os.Getenv("DATABASE_URL")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	l := ledger.New(ledger.Options{DeclaredBy: "orchestrator"})
	run := uuid.New()
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}

	must(pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := l.Expect(ctx, tx, run, ledger.StandardRun(time.Minute)...); err != nil {
			return err
		}
		for _, p := range []ledger.Phase{ledger.PhaseCreated, ledger.PhaseAuthorized, ledger.PhaseExecuting} {
			if err := l.Advance(ctx, tx, run, p, ""); err != nil {
				return err
			}
		}
		return nil
	}))
	// Three domains have acked; the trace was never completed.
	for _, a := range []ledger.Ack{
		{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc-1"},
		{RunID: run, Domain: ledger.Policies, Action: ledger.EvaluatePolicy, ResultID: "pol-1"},
		{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace, ResultID: "trace-1"},
	} {
		must(l.Ack(ctx, pool, a))
	}

	finalize := func() {
		must(pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			res, err := l.Checkpoint(ctx, tx, run, ledger.CheckpointOptions{})
			var unmet *ledger.UnmetError
			if errors.As(err, &unmet) {
				fmt.Println("refused:", unmet.Unmet)
				return nil // commit the refusal as evidence
			}
			if err != nil {
				return err
			}
			fmt.Println("checkpoint", res.Outcome)
			if err := l.Advance(ctx, tx, run, ledger.PhaseFinalizing, ""); err != nil {
				return err
			}
			return l.Advance(ctx, tx, run, ledger.PhaseCompleted, "")
		}))
	}
	finalize()
	must(l.Ack(ctx, pool, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.CompleteTrace, ResultID: "trace-1"}))
	finalize()

	var phases []string
	must(pool.QueryRow(ctx, `SELECT array_agg(phase ORDER BY seq) FROM rac.run_timeline WHERE run_id = $1`, run).Scan(&phases))
	fmt.Println(phases)

	// Output:
	// refused: [logs/complete_trace: pending]
	// checkpoint passed
	// [created authorized executing governance_check finalizing completed]
}

// Track runs a domain operation in a savepoint and acks what it did: its
// result id, or its error once its writes are rolled back.
func ExampleLedger_Track() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleDatabaseURL)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	l := ledger.New(ledger.Options{})
	run := uuid.New()

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		err := l.Track(ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident},
			func(ctx context.Context, tx pgx.Tx) (string, error) {
				return "", errors.New("incident store: quota exceeded")
			})
		fmt.Println("operation:", err)
		return nil // the transaction is usable: commit the failure ack
	})
	if err != nil {
		log.Fatal(err)
	}
	var failure string
	if err := pool.QueryRow(ctx, `SELECT error FROM rac.acks WHERE run_id = $1`, run).Scan(&failure); err != nil {
		log.Fatal(err)
	}
	fmt.Println("acked:", failure)

	// Output:
	// operation: incident store: quota exceeded
	// acked: incident store: quota exceeded
}
