package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// TestAuditorEvidenceCommands runs verify, prove and export as a login in
// rac_auditor: refused a table, they say so and what works instead (a
// member of rac_reconciler, which does verify, prove and export); with
// read grants, a login pinned to one tenant exports its tenant and is told
// plainly why it cannot verify.
func TestAuditorEvidenceCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	l := newLedger()
	for range 3 {
		require.NoError(t, l.Expect(ctx, pool, uuid.New(), ledger.StandardRun(60_000_000_000)...))
	}
	// One run in another tenant, which a login pinned to default cannot see.
	_, err := pool.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('other') ON CONFLICT DO NOTHING`)
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SET LOCAL rac.tenant = 'other'`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT rac.expect(gen_random_uuid(), 'incidents', 'create_incident', interval '1 hour')`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	settle(t, pool)
	res := rac(ctx, dbEnv(db.URL), "seal")
	require.Equal(t, exitOK, res.code, res.stderr)

	auditorURL, _ := pgtest.LoginRole(t, db, "rac_auditor")
	env := dbEnv(auditorURL)
	commands := func(t *testing.T) [][]string {
		return [][]string{
			{"verify"},
			{"prove", "--table", "expectations", "--id", "1", "--out", filepath.Join(t.TempDir(), "p.json")},
			{"export", "--seals", "1", "--out", t.TempDir()},
		}
	}
	for _, args := range commands(t) {
		res := rac(ctx, env, args...)
		require.Equal(t, exitError, res.code, "%v: %s%s", args, res.stdout, res.stderr)
		require.Contains(t, res.stderr, "hint: this login may not read the tables rac "+args[0]+" reads", args)
		require.Contains(t, res.stderr, "member of rac_reconciler", args)
	}

	// What the hint says works today: a member of rac_reconciler, which
	// sees every tenant, verifies, proves and exports.
	reconcilerURL, _ := pgtest.LoginRole(t, db, "rac_reconciler")
	_, err = pool.Exec(ctx, "GRANT SELECT ON "+migrate.TableName+" TO rac_reconciler")
	require.NoError(t, err)
	for _, args := range commands(t) {
		res := rac(ctx, dbEnv(reconcilerURL), args...)
		require.Equal(t, exitOK, res.code, "%v: %s%s", args, res.stdout, res.stderr)
	}

	// With the read grants the hint names (row-level security unchanged),
	// a login pinned to one tenant exports that tenant and is told plainly
	// why it cannot verify.
	_, err = pool.Exec(ctx, "GRANT SELECT ON ALL TABLES IN SCHEMA rac TO rac_auditor; GRANT SELECT ON "+migrate.TableName+" TO rac_auditor")
	require.NoError(t, err)
	pinnedURL, pinned := pgtest.LoginRole(t, db, "rac_auditor")
	_, err = pool.Exec(ctx, "INSERT INTO rac.tenant_roles (role_name, tenant_id) SELECT $1, id FROM rac.tenants WHERE name = 'default'", pinned)
	require.NoError(t, err)
	res = rac(ctx, dbEnv(pinnedURL), "verify")
	require.Equal(t, exitError, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stderr, "does not see every ledger row")
	res = rac(ctx, dbEnv(pinnedURL), "export", "--seals", "1", "--tenant", "default", "--out", t.TempDir())
	require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
}
