package seal_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/internal/seal"
)

// TestProgress: the progress hooks of Seal and Verify see counts that
// never decrease and end at the rows sealed or verified; Verify's total
// is known from the start.
func TestProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	populate(t, pool, 10000) // more than one batch per table
	pgtest.WaitFinal(t, pool)

	var sealed []seal.Progress
	s, err := seal.New(pool, seal.Options{Progress: func(p seal.Progress) { sealed = append(sealed, p) }})
	require.NoError(t, err)
	res, err := s.Seal(ctx)
	require.NoError(t, err)
	require.True(t, res.Sealed)
	requireProgress(t, sealed, res.Head.ID, res.Rows, 0)

	populate(t, pool, 10)
	pgtest.WaitFinal(t, pool)
	second, err := s.Seal(ctx)
	require.NoError(t, err)
	require.True(t, second.Sealed)

	var verified []seal.Progress
	rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{Progress: func(p seal.Progress) { verified = append(verified, p) }})
	require.NoError(t, err)
	require.True(t, rep.Intact())
	require.Equal(t, res.Rows+second.Rows, rep.Rows)
	requireProgress(t, verified, second.Head.ID, rep.Rows, rep.Rows)
	require.Equal(t, res.Head.ID, verified[0].SealID, "seal 1 first")
}

// requireProgress checks a hook's calls: rows grow, never past the total,
// and the last call is for seal lastSeal with rows rows.
func requireProgress(t *testing.T, calls []seal.Progress, lastSeal, rows, total int64) {
	t.Helper()
	require.Greater(t, len(calls), 6, "several batches")
	var prev int64
	for i, p := range calls {
		require.Greater(t, p.Rows, prev, "call %d: rows grow", i)
		require.NotEmpty(t, p.Table, "call %d", i)
		require.Equal(t, total, p.Total, "call %d", i)
		prev = p.Rows
	}
	last := calls[len(calls)-1]
	require.Equal(t, rows, last.Rows, "the last call has every row")
	require.Equal(t, lastSeal, last.SealID)
}
