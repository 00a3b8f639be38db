package main

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/migrations"
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

// migrationCount is how many migrations the binary embeds.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return len(files)
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewEmptyDatabase(t)
	env := dbEnv(db.URL)
	n := migrationCount(t)

	res := rac(ctx, env, "migrate", "up")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, fmt.Sprintf("applied %d migration(s)", n))
	l, r := schemaState(t, db.URL)
	require.True(t, l && r, "up applies every migration")

	for i := n; i > 1; i-- {
		res = rac(ctx, env, "migrate", "down")
		require.Equal(t, exitOK, res.code, res.stderr)
	}
	l, r = schemaState(t, db.URL)
	require.True(t, l, "reversing all but the first keeps the ledger tables")
	require.False(t, r, "reversing all but the first drops the reconciler tables")

	res = rac(ctx, env, "migrate", "down")
	require.Equal(t, exitOK, res.code, res.stderr)
	l, r = schemaState(t, db.URL)
	require.False(t, l || r, "reversing the first drops everything")

	res = rac(ctx, env, "migrate", "down")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "nothing to reverse")

	res = rac(ctx, env, "migrate", "up")
	require.Equal(t, exitOK, res.code, res.stderr)
	l, r = schemaState(t, db.URL)
	require.True(t, l && r, "up again restores every migration")

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
		if res.stdout == fmt.Sprintf("migrate up: applied %d migration(s)\n", migrationCount(t)) {
			applied++
		}
	}
	require.Equal(t, 1, applied, "exactly one migrator applies the migrations: %+v", results)

	pool := newPool(t, db.URL)
	var versions, seeded int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FROM `+migrate.TableName+` WHERE version_id > 0 AND is_applied`).Scan(&versions))
	require.Equal(t, migrationCount(t), versions, "each migration recorded once")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rac.contract_actions`).Scan(&seeded))
	require.Equal(t, 5, seeded, "the catalog is seeded once")
}
