package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
)

// schemaSurface lists what schema rac exposes and enforces: grants,
// function definitions with their settings, constraints, triggers and
// row-level security policies, each as one comparable line.
func schemaSurface(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	out := pgtest.Grants(t, pool)
	out = append(out, strs(t, pool, `
		SELECT pg_get_functiondef(p.oid) || coalesce(array_to_string(p.proconfig, ','), '') FROM pg_proc p
		WHERE p.pronamespace = 'rac'::regnamespace ORDER BY p.oid::regprocedure::text`)...)
	out = append(out, strs(t, pool, `
		SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE connamespace = 'rac'::regnamespace ORDER BY 1`)...)
	out = append(out, strs(t, pool, `
		SELECT tgrelid::regclass::text || ' ' || pg_get_triggerdef(oid) FROM pg_trigger
		WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'rac'::regnamespace) AND NOT tgisinternal
		ORDER BY 1`)...)
	out = append(out, strs(t, pool, `
		SELECT tablename || ' ' || policyname || ' ' || cmd || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
		FROM pg_policies WHERE schemaname = 'rac' ORDER BY 1`)...)
	return out
}

// emptyMigrator returns a pool on a new, unmigrated database and a
// migrator for it, closed when the test ends.
func emptyMigrator(t *testing.T) (*pgxpool.Pool, *migrate.Migrator) {
	t.Helper()
	return migratorOn(t, pgtest.NewEmptyDatabase(t))
}

// migratorOn is emptyMigrator for a database the caller keeps, to create
// login roles in it.
func migratorOn(t *testing.T, db pgtest.Database) (*pgxpool.Pool, *migrate.Migrator) {
	t.Helper()
	pool := openPool(t, db.URL)
	m, err := migrate.New(pool, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return pool, m
}

// requireDownRestores migrates a new database to version-1, then to
// version, down again and up again, and checks that the migration changes
// the schema's surface, that its down restores the surface before it
// exactly, and that up again restores its own.
func requireDownRestores(t *testing.T, version int64) {
	t.Helper()
	ctx := context.Background()
	pool, m := emptyMigrator(t)

	_, err := m.UpTo(ctx, version-1)
	require.NoError(t, err)
	before := schemaSurface(t, pool)
	_, err = m.UpTo(ctx, version)
	require.NoError(t, err)
	up := schemaSurface(t, pool)
	require.NotEqual(t, before, up, "migration %d changes the surface", version)
	_, err = m.DownTo(ctx, version-1)
	require.NoError(t, err)
	require.Equal(t, before, schemaSurface(t, pool), "down restores the surface of migration %d", version-1)
	_, err = m.UpTo(ctx, version)
	require.NoError(t, err)
	require.Equal(t, up, schemaSurface(t, pool), "up again restores migration %d's surface", version)
}
