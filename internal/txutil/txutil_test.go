package txutil_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/internal/txutil"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRollbackSurvivesCancellation(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	conn, err := pool.Acquire(context.Background())
	require.NoError(t, err)
	defer conn.Release()

	ctx, cancel := context.WithCancel(context.Background())
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `CREATE TABLE public.rolled_back (x int)`)
	require.NoError(t, err)
	cancel()
	require.NoError(t, txutil.Rollback(ctx, tx))
	require.NoError(t, txutil.Rollback(ctx, tx), "a second rollback is a no-op")

	var n int
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_class WHERE relname = 'rolled_back'`).Scan(&n))
	require.Zero(t, n, "the transaction was rolled back on the server")
	require.Equal(t, byte('I'), conn.Conn().PgConn().TxStatus(), "the connection is idle, fit for the pool")
}

func TestWithTxCommitsOrRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE public.t (x int)`)
	require.NoError(t, err)

	require.NoError(t, txutil.WithTx(ctx, pool, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO public.t VALUES (1)`)
		return err
	}))
	boom := errors.New("boom")
	err = txutil.WithTx(ctx, pool, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO public.t VALUES (2)`); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)

	rows, err := pool.Query(ctx, `SELECT x FROM public.t ORDER BY x`)
	require.NoError(t, err)
	xs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{1}, xs)
}
