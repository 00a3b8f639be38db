package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// coveringKey is the migration that makes the expectations' unique key
// carry deadline_at and tx_id for the reconciler's index-only scans.
const coveringKey = 17

func TestCoveringKeyDownRestores(t *testing.T) {
	t.Parallel()
	requireDownRestores(t, coveringKey)
}

// The key keeps its columns, its name and what it refuses; only its index
// carries two more columns. A leftover index of a build interrupted
// half-way (here one that exists before the migration runs) is replaced.
func TestCoveringKeyKeepsTheKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, m := emptyMigrator(t)
	_, err := m.UpTo(ctx, coveringKey-1)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `CREATE INDEX expectations_run_action_covering ON rac.expectations (run_id)`)
	require.NoError(t, err)
	_, err = m.UpTo(ctx, coveringKey)
	require.NoError(t, err)

	require.Equal(t, []string{
		"UNIQUE (run_id, tenant_id, action_id) INCLUDE (deadline_at, tx_id)",
	}, strs(t, pool, `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'rac.expectations'::regclass AND conname = 'expectations_run_action_key'`))
	require.Equal(t, []string{"expectations_run_action_key 3 5 true"}, strs(t, pool, `
		SELECT c.relname || ' ' || i.indnkeyatts || ' ' || i.indnatts || ' ' || i.indisvalid
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'rac.expectations'::regclass AND c.relname LIKE 'expectations_run_action%'`),
		"one index, the constraint's: three key columns, two included, valid")

	const declare = `INSERT INTO rac.expectations (run_id, action_id, deadline_ms, declared_at, deadline_at)
		SELECT '00000000-0000-0000-0000-000000000017', 1, $1::bigint, c.now, c.now + $1::bigint * interval '1 millisecond'
		FROM (SELECT clock_timestamp() AS now) c`
	_, err = pool.Exec(ctx, declare, 1000)
	require.NoError(t, err)
	tag, err := pool.Exec(ctx, declare+` ON CONFLICT (tenant_id, run_id, action_id) DO NOTHING`, 2000)
	require.NoError(t, err, "ON CONFLICT still infers the key")
	require.Zero(t, tag.RowsAffected())
	_, err = pool.Exec(ctx, declare, 3000)
	require.Equal(t, "23505", pgError(t, err).Code, "a second declaration of the same action is refused")
	require.Equal(t, "expectations_run_action_key", pgError(t, err).ConstraintName)
}
