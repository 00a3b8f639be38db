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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/ledger"
)

// A service declares its run's contract and acknowledges its incident in
// the same transaction that writes the incident: both commit together or
// not at all.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleDatabaseURL) // e.g. os.Getenv("DATABASE_URL")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS incidents (id text PRIMARY KEY, run_id uuid, summary text)`); err != nil {
		log.Fatal(err)
	}

	l := ledger.New(ledger.Options{Registerer: prometheus.NewRegistry(), DeclaredBy: "checkout-service"})
	runID := uuid.New()

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// At T0: what must happen in this run, each within 5 seconds.
		if err := l.Expect(ctx, tx, runID, ledger.StandardRun(5*time.Second)...); err != nil {
			return err
		}
		// The incidents domain writes its record and its ack together.
		if _, err := tx.Exec(ctx, `INSERT INTO incidents VALUES ('inc-42', $1, 'payment declined')`, runID); err != nil {
			return err
		}
		return l.Ack(ctx, tx, ledger.Ack{
			RunID:          runID,
			Domain:         ledger.Incidents,
			Action:         ledger.CreateIncident,
			ResultID:       "inc-42",
			IdempotencyKey: "inc-42", // scoped to this run and action already
		})
	})
	if err != nil {
		log.Fatal(err)
	}

	var expected, acked int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rac.expectations WHERE run_id = $1),
		(SELECT count(*) FROM rac.acks WHERE run_id = $1)`, runID).Scan(&expected, &acked); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("expected %d actions, acked %d\n", expected, acked)

	// A malformed ack is refused before it reaches the database.
	err = l.Ack(ctx, pool, ledger.Ack{RunID: runID, Domain: "incidents", Action: "Create Incident"})
	fmt.Println(errors.Is(err, ledger.ErrInvalid), err)

	// Output:
	// expected 5 actions, acked 1
	// true rac: invalid ack[0].action: "Create Incident" does not match ^[a-z][a-z0-9_]{0,62}$
}
