package main

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
)

// schemaState reports which of the two migrations' tables exist.
func schemaState(t *testing.T, url string) (ledgerTables, reconcilerTables bool) {
	t.Helper()
	pool := newPool(t, url)
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT to_regclass('rac.acks') IS NOT NULL AND to_regclass('rac.expectations') IS NOT NULL,
		       to_regclass('rac.findings') IS NOT NULL AND to_regclass('rac.open_findings') IS NOT NULL`).
		Scan(&ledgerTables, &reconcilerTables))
	pool.Close()
	return ledgerTables, reconcilerTables
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewEmptyDatabase(t)
	env := dbEnv(db.URL)

	res := rac(ctx, env, "migrate", "up")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "applied 2 migration(s)")
	l, r := schemaState(t, db.URL)
	require.True(t, l && r, "up applies both migrations")

	res = rac(ctx, env, "migrate", "down")
	require.Equal(t, exitOK, res.code, res.stderr)
	l, r = schemaState(t, db.URL)
	require.True(t, l, "first down keeps the ledger tables")
	require.False(t, r, "first down drops the reconciler tables")

	res = rac(ctx, env, "migrate", "down")
	require.Equal(t, exitOK, res.code, res.stderr)
	l, r = schemaState(t, db.URL)
	require.False(t, l || r, "second down drops everything")

	res = rac(ctx, env, "migrate", "up")
	require.Equal(t, exitOK, res.code, res.stderr)
	l, r = schemaState(t, db.URL)
	require.True(t, l && r, "up again restores both migrations")

	res = rac(ctx, env, "migrate", "status", "--database-url", db.URL)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.NotContains(t, res.stdout, "pending")
}

func TestMigrateConcurrentUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewEmptyDatabase(t)

	const n = 2
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = rac(ctx, dbEnv(db.URL), "migrate", "up") })
	}
	wg.Wait()
	applied := 0
	for _, res := range results {
		require.Equal(t, exitOK, res.code, res.stderr)
		if res.stdout == "migrate up: applied 2 migration(s)\n" {
			applied++
		}
	}
	require.Equal(t, 1, applied, "exactly one migrator applies the migrations: %+v", results)

	pool := newPool(t, db.URL)
	var versions, seeded int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FROM `+migrate.TableName+` WHERE version_id > 0 AND is_applied`).Scan(&versions))
	require.Equal(t, 2, versions, "each migration recorded once")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rac.contract_actions`).Scan(&seeded))
	require.Equal(t, 5, seeded, "the catalog is seeded once")
}
