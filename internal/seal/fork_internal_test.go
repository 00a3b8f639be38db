package seal

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/pgtest"
)

// Without the sealing lock, two sealers whose snapshots read the same head
// both seal the same id: the constraints refuse the second with
// ErrConflict, and the chain does not fork.
func TestForkBackstopWithoutTheLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	_, err := pool.Exec(ctx, `INSERT INTO rac.acks (run_id, action_id, result_id)
		SELECT gen_random_uuid(), 1, 'r' || i FROM generate_series(1, 10) i`)
	require.NoError(t, err)
	pgtest.WaitFinal(t, pool)

	begin := func() pgx.Tx {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		require.NoError(t, err)
		t.Cleanup(func() { rollback(ctx, tx) })
		return tx
	}
	first, second := begin(), begin()
	// The second takes its snapshot before the first seals: it reads the
	// same (empty) chain.
	_, err = second.Exec(ctx, "SELECT 1")
	require.NoError(t, err)

	won, err := sealTx(ctx, first, canon.Version, nil)
	require.NoError(t, err)
	require.True(t, won.Sealed)
	require.Equal(t, int64(1), won.Head.ID)

	_, err = sealTx(ctx, second, canon.Version, nil)
	require.ErrorIs(t, err, ErrConflict)

	var seals int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM rac.seals").Scan(&seals))
	require.Equal(t, int64(1), seals)
}
