package seal_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// populate writes n rows to each ledger table in one transaction, with raw
// SQL so that every table and every nullable column is exercised.
func populate(t testing.TB, pool *pgxpool.Pool, n int) {
	t.Helper()
	require.NoError(t, insertRows(context.Background(), pool, n))
}

// insertRows is populate for goroutines other than the test's: it returns
// its error.
func insertRows(ctx context.Context, pool *pgxpool.Pool, n int) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		stmts := []string{
			`INSERT INTO rac.expectations (run_id, action_id, deadline_at, deadline_ms, declared_by, metadata)
			 SELECT gen_random_uuid(), 1 + i % 5,
			        CASE WHEN i % 7 = 0 THEN NULL ELSE clock_timestamp() + interval '1 minute' END,
			        CASE WHEN i % 7 = 0 THEN NULL ELSE 60000 END,
			        CASE WHEN i % 2 = 0 THEN 'svc' END,
			        CASE WHEN i % 3 = 0 THEN jsonb_build_object('i', i, 'k', 'v') END
			 FROM generate_series(1, $1) i`,
			`INSERT INTO rac.acks (run_id, action_id, result_id, idempotency_key, error, metadata)
			 SELECT gen_random_uuid(), 1 + i % 5, 'r' || i, CASE WHEN i % 2 = 0 THEN 'k' || i END,
			        CASE WHEN i % 5 = 0 THEN 'boom' END, CASE WHEN i % 4 = 0 THEN '{"a": [1, 2]}'::jsonb END
			 FROM generate_series(1, $1) i`,
			`INSERT INTO rac.reconciliations (pass_id, batch, final, horizon_from, horizon_to, deadline_from,
			     deadline_to, as_of, grace_ms, candidate_runs, started_at, reconciler)
			 SELECT gen_random_uuid(), 0, i % 2 = 0, 0, i, now(), now(), now(), 0, i, now(), 'test'
			 FROM generate_series(1, $1) i`,
			`INSERT INTO rac.findings (reconciliation_id, violated_at, run_id, tenant_id, action_id, kind, detail)
			 SELECT i, now(), gen_random_uuid(), 1, 1 + i % 5, 'missing', jsonb_build_object('n', i)
			 FROM generate_series(1, $1) i`,
			`INSERT INTO rac.finding_resolutions (finding_id, tenant_id, resolution, resolved_at, actor, reason)
			 SELECT f.id, 1, 'waived', now(), 'alice', 'test'
			 FROM rac.findings f WHERE NOT EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id)
			 ORDER BY f.id LIMIT $1`,
			`INSERT INTO rac.run_verdicts (reconciliation_id, run_id, tenant_id, seq, verdict)
			 SELECT i, gen_random_uuid(), 1, 1, 'violated' FROM generate_series(1, $1) i`,
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s, n); err != nil {
				return err
			}
		}
		return nil
	})
}

// tamper runs stmt as a superuser with triggers (and foreign keys) off.
func tamper(t testing.TB, pool *pgxpool.Pool, stmt string, args ...any) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, stmt, args...)
		return err
	})
	require.NoError(t, err)
}

func queryInt(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
