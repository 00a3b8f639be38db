package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// WaitFinal waits until every row written so far to every ledger table
// (expectations, acks, findings, resolutions, verdicts, reconciliations) is
// final, for the reconciler and for sealing: until the horizon,
// pg_snapshot_xmin(pg_current_snapshot()), has passed their transactions. The horizon is cluster-wide, so a transaction open in
// another test's database holds it back too, exactly as it would in
// production; WaitFinal polls (it never sleeps for a fixed time) and fails
// the test after 30 seconds.
func WaitFinal(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var final bool
		err := pool.QueryRow(ctx, `
			SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > greatest(
			    (SELECT max(tx_id) FROM rac.expectations),
			    (SELECT max(tx_id) FROM rac.acks),
			    (SELECT max(tx_id) FROM rac.findings),
			    (SELECT max(tx_id) FROM rac.finding_resolutions),
			    (SELECT max(tx_id) FROM rac.run_verdicts),
			    (SELECT max(tx_id) FROM rac.reconciliations),
			    0)`).Scan(&final)
		if err != nil {
			t.Fatalf("pgtest: read the horizon: %v", err)
		}
		if final {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: the horizon did not pass the ledger's rows within 30s (a transaction left open?)")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
