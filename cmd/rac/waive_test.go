package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// loginAs returns a database URL for a new login role that is a member of
// roles (see pgtest.LoginRole).
func loginAs(t *testing.T, db pgtest.Database, roles ...string) string {
	t.Helper()
	u, _ := pgtest.LoginRole(t, db, roles...)
	return u
}

func TestWaive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	run := uuid.New()
	require.NoError(t, newLedger().Ack(ctx, pool, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident}))
	settle(t, pool)
	res := rac(ctx, dbEnv(db.URL), "reconcile", "--once")
	require.Equal(t, exitViolated, res.code, res.stderr)
	var findingID int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT finding_id FROM rac.open_findings WHERE run_id = $1 AND kind = 'drift'`, run).Scan(&findingID))
	id := fmt.Sprint(findingID)

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"waive"},
			{"waive", "--reason", "x", "--actor", "y"},
			{"waive", "abc", "--reason", "x", "--actor", "y"},
			{"waive", id, "--actor", "y"},
			{"waive", id, "--reason", " ", "--actor", "y"},
		} {
			res := rac(ctx, dbEnv(db.URL), args...)
			require.Equal(t, exitUsage, res.code, "%v: %s", args, res.stderr)
		}
	})

	t.Run("a role without rac_waiver cannot waive", func(t *testing.T) {
		res := rac(ctx, dbEnv(loginAs(t, db, "rac_writer", "rac_auditor")), "waive", id, "--reason", "x", "--actor", "mallory")
		require.Equal(t, exitError, res.code)
		require.Contains(t, res.stderr, "42501")
		require.Equal(t, 1, count(t, pool, `SELECT count(*) FROM rac.open_findings`))
	})

	t.Run("a waiver closes the finding and keeps it in history", func(t *testing.T) {
		res := rac(ctx, dbEnv(loginAs(t, db, "rac_waiver")), "waive", id, "--reason", "synthetic test traffic", "--actor", "alice")
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Contains(t, res.stdout, "finding "+id+" waived by alice")
		require.Zero(t, count(t, pool, `SELECT count(*) FROM rac.open_findings`))
		var resolution, actor, reason string
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT r.resolution, r.actor, r.reason FROM rac.finding_resolutions r WHERE r.finding_id = $1`, findingID).
			Scan(&resolution, &actor, &reason))
		require.Equal(t, []string{"waived", "alice", "synthetic test traffic"}, []string{resolution, actor, reason})
		require.Equal(t, 1, count(t, pool, `SELECT count(*) FROM rac.findings WHERE id = $1`, findingID))
	})

	t.Run("the next pass records the run clean", func(t *testing.T) {
		settle(t, pool)
		res := rac(ctx, dbEnv(db.URL), "reconcile", "--once")
		require.Equal(t, exitOK, res.code, res.stderr)
		var verdicts string
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT string_agg(seq || ':' || verdict, ',' ORDER BY seq) FROM rac.run_verdicts WHERE run_id = $1`, run).Scan(&verdicts))
		require.Equal(t, "1:violated,2:clean", verdicts)
	})

	t.Run("a finding is waived once", func(t *testing.T) {
		res := rac(ctx, dbEnv(db.URL), "waive", id, "--reason", "again", "--actor", "bob")
		require.Equal(t, exitError, res.code)
		require.Contains(t, res.stderr, "RC108")
		require.Equal(t, 1, count(t, pool, `SELECT count(*) FROM rac.finding_resolutions`))
	})

	t.Run("a waiver sees the findings of the tenant it names", func(t *testing.T) {
		var acmeFinding int64
		require.NoError(t, pool.QueryRow(ctx, `
			WITH acme AS (INSERT INTO rac.tenants (name) VALUES ('acme') RETURNING id)
			INSERT INTO rac.findings (reconciliation_id, violated_at, run_id, tenant_id, action_id, kind)
			SELECT 0, now(), gen_random_uuid(), acme.id, 1, 'missing' FROM acme RETURNING id`).Scan(&acmeFinding))
		waiver := dbEnv(loginAs(t, db, "rac_waiver"))
		res := rac(ctx, waiver, "waive", fmt.Sprint(acmeFinding), "--reason", "x", "--actor", "carol")
		require.Equal(t, exitError, res.code, "a session in tenant default does not see acme's finding")
		require.Contains(t, res.stderr, "RC108")
		res = rac(ctx, waiver, "waive", fmt.Sprint(acmeFinding), "--reason", "x", "--actor", "carol", "--tenant", "nope")
		require.Equal(t, exitError, res.code)
		require.Contains(t, res.stderr, "RC107")
		res = rac(ctx, waiver, "waive", fmt.Sprint(acmeFinding), "--reason", "onboarding test", "--actor", "carol", "--tenant", "acme")
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Equal(t, 1, count(t, pool, `SELECT count(*) FROM rac.finding_resolutions WHERE finding_id = $1 AND actor = 'carol'`, acmeFinding))
	})

	t.Run("unknown and late findings cannot be waived", func(t *testing.T) {
		res := rac(ctx, dbEnv(db.URL), "waive", "999999", "--reason", "x", "--actor", "bob")
		require.Equal(t, exitError, res.code)
		require.Contains(t, res.stderr, "RC108")
		var lateID int64
		require.NoError(t, pool.QueryRow(ctx, `
			INSERT INTO rac.findings (reconciliation_id, violated_at, run_id, tenant_id, action_id, kind)
			VALUES (0, now(), gen_random_uuid(), 1, 1, 'late') RETURNING id`).Scan(&lateID))
		res = rac(ctx, dbEnv(db.URL), "waive", fmt.Sprint(lateID), "--reason", "x", "--actor", "bob")
		require.Equal(t, exitError, res.code)
		require.Contains(t, res.stderr, "RC109")
	})
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
