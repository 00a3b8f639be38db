package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/db"
)

// finalWait is how long WaitFinal polls before it fails the test.
const finalWait = 3 * time.Minute

// WaitFinal waits until every row written so far to every ledger table
// (expectations, acks, findings, resolutions, verdicts, reconciliations) is
// final, for the reconciler and for sealing: until the horizon,
// pg_snapshot_xmin(pg_current_snapshot()), has passed their transactions. The horizon is cluster-wide, so a transaction open in
// another test's database holds it back too, exactly as it would in
// production; WaitFinal polls (it never sleeps for a fixed time) and fails
// the test after finalWait, naming the oldest open transaction. (Packages
// run in parallel on one cluster in CI, and under the race detector a
// seal or export of another package can hold its snapshot for a while.)
func WaitFinal(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(finalWait)
	for {
		final, err := db.New().LedgerFinal(ctx, pool)
		if err != nil {
			t.Fatalf("pgtest: read the horizon: %v", err)
		}
		if final {
			return
		}
		if time.Now().After(deadline) {
			var holder string
			_ = pool.QueryRow(ctx, `
				SELECT coalesce(datname, '?') || ' pid ' || pid || ' (' || coalesce(state, '?') || ', since ' ||
				       coalesce(xact_start::text, '?') || '): ' || left(coalesce(query, ''), 200)
				FROM pg_stat_activity WHERE backend_xmin IS NOT NULL OR backend_xid IS NOT NULL
				ORDER BY age(coalesce(backend_xid, backend_xmin)) DESC LIMIT 1`).Scan(&holder)
			t.Fatalf("pgtest: the horizon did not pass the ledger's rows within %v (a transaction left open?); oldest: %s",
				finalWait, holder)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
