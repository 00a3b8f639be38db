package seal_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/internal/seal"
)

// TestVerifyReportsUnsealedRows: rows no seal covers are counted, and an
// empty chain over a ledger with rows is never intact.
func TestVerifyReportsUnsealedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)

	rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, rep.Intact(), "an empty ledger with no seals is intact")
	require.Zero(t, rep.UnsealedRows())

	populate(t, pool, 3)
	pgtest.WaitFinal(t, pool)
	rep, err = seal.Verify(ctx, pool, seal.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Tamper)
	require.Nil(t, rep.Head)
	require.False(t, rep.Intact(), "an empty chain over rows is not intact")
	require.Equal(t, []int64{3, 3, 3, 3, 3, 3}, rep.Unsealed)
	require.Equal(t, int64(0), rep.UnsealedFrom)
	require.Contains(t, rep.UnsealedString(), "18 rows (expectations 3, acks 3")

	res, err := seal.Seal(ctx, pool)
	require.NoError(t, err)
	require.True(t, res.Sealed)
	rep, err = seal.Verify(ctx, pool, seal.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, rep.Intact())
	require.Zero(t, rep.UnsealedRows())

	populate(t, pool, 2)
	rep, err = seal.Verify(ctx, pool, seal.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, rep.Intact(), "rows after the last seal leave the chain intact")
	require.Equal(t, int64(12), rep.UnsealedRows())
	require.Equal(t, res.Seal.HorizonTo, rep.UnsealedFrom)
}

// TestSealRefusesTamperedHead: a seal never extends a chain whose head no
// longer verifies, whichever part of it was changed.
func TestSealRefusesTamperedHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name  string
		seals int // seals made before tampering
		stmt  string
		want  string
	}{
		{name: "an edited row of the head", seals: 1,
			stmt: `UPDATE rac.acks SET error = 'forged' WHERE id = (SELECT min(id) FROM rac.acks)`, want: "edited in acks"},
		{name: "a deleted row of the head", seals: 2,
			stmt: `DELETE FROM rac.expectations WHERE id = (SELECT max(id) FROM rac.expectations)`, want: "deleted in expectations"},
		{name: "the head's own columns", seals: 1,
			stmt: `UPDATE rac.seals SET sealed_at = sealed_at + interval '1 second' WHERE id = 1`, want: "seal-changed"},
		{name: "the predecessor's columns", seals: 2,
			stmt: `UPDATE rac.seals SET horizon_to = horizon_to - 1 WHERE id = 1`, want: "seal 1: seal-changed"},
		{name: "a missing predecessor", seals: 2,
			stmt: `DELETE FROM rac.seals WHERE id = 1`, want: "chain-broken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			for range c.seals {
				populate(t, pool, 4)
				pgtest.WaitFinal(t, pool)
				res, err := seal.Seal(ctx, pool)
				require.NoError(t, err)
				require.True(t, res.Sealed)
			}
			before := queryInt(t, pool, `SELECT count(*) FROM rac.seals`)
			tamper(t, pool, c.stmt)
			populate(t, pool, 4)
			pgtest.WaitFinal(t, pool)

			reg := prometheus.NewRegistry()
			s, err := seal.New(pool, seal.Options{Registerer: reg})
			require.NoError(t, err)
			_, err = s.Seal(ctx)
			require.ErrorIs(t, err, seal.ErrHeadTampered)
			require.Contains(t, err.Error(), c.want)
			after := queryInt(t, pool, `SELECT count(*) FROM rac.seals`)
			require.LessOrEqual(t, after, before, "no seal appended after a tampered head")
			v, ok := metricValue(t, reg, "rac_seals_total", "error")
			require.True(t, ok)
			require.Equal(t, 1.0, v)
		})
	}
}

// TestVerifierMetrics: the verifier's series exist at zero before the
// first verification, and follow its result.
func TestVerifierMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	reg := prometheus.NewRegistry()
	v, err := seal.NewVerifier(pool, seal.VerifierOptions{Registerer: reg})
	require.NoError(t, err)

	expect := func(intact float64, totals map[string]float64) {
		t.Helper()
		v, ok := metricValue(t, reg, "rac_verify_last_intact", "")
		require.True(t, ok, "rac_verify_last_intact is exported")
		require.Equal(t, intact, v)
		for _, r := range []string{seal.ResultIntact, seal.ResultTampered, seal.ResultUnsealed, seal.ResultError} {
			v, ok := metricValue(t, reg, "rac_verify_total", r)
			require.True(t, ok, "rac_verify_total{result=%q} is exported", r)
			require.Equal(t, totals[r], v, r)
		}
		_, ok = metricValue(t, reg, "rac_verify_last_timestamp_seconds", "")
		require.True(t, ok)
		_, ok = metricValue(t, reg, "rac_verify_unsealed_rows", "")
		require.True(t, ok)
	}
	expect(0, nil)
	ts, _ := metricValue(t, reg, "rac_verify_last_timestamp_seconds", "")
	require.Zero(t, ts, "no verification yet")

	populate(t, pool, 2)
	pgtest.WaitFinal(t, pool)
	result, _, err := v.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, seal.ResultUnsealed, result)
	expect(0, map[string]float64{"unsealed": 1})

	_, err = seal.Seal(ctx, pool)
	require.NoError(t, err)
	result, _, err = v.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, seal.ResultIntact, result)
	expect(1, map[string]float64{"unsealed": 1, "intact": 1})

	tamper(t, pool, `UPDATE rac.acks SET result_id = 'forged' WHERE id = (SELECT min(id) FROM rac.acks)`)
	result, _, err = v.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, seal.ResultTampered, result)
	expect(0, map[string]float64{"unsealed": 1, "intact": 1, "tampered": 1})
}

// metricValue returns the value of the series of name in reg whose one
// label has value label ("" for a series without labels).
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}
