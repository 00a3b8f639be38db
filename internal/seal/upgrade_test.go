package seal_test

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/internal/seal"
)

// authorsVersion is the migration that records authors and moves new seals
// to encoding version 2.
const authorsVersion = 12

// A ledger sealed before authors were recorded (encoding version 1) keeps
// verifying after the upgrade; the next seal is version 2 and covers each
// new row's author, so changing an author is tampering; proofs of rows in
// either seal verify.
func TestSealsMadeBeforeAuthorsStillVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewEmptyDatabase(t).URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m, err := migrate.New(pool, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })

	write := func() {
		t.Helper()
		_, err := pool.Exec(ctx, `
			SELECT rac.expect(r, 'incidents', 'create_incident', interval '1 hour'),
			       rac.ack(r, 'incidents', 'create_incident', 'inc-' || i)
			FROM generate_series(1, 20) i, gen_random_uuid() r`)
		require.NoError(t, err)
		pgtest.WaitFinal(t, pool)
	}

	_, err = m.UpTo(ctx, authorsVersion-1)
	require.NoError(t, err)
	write()
	old, err := seal.NewWithVersion(pool, seal.Options{}, 1)
	require.NoError(t, err)
	res, err := old.Seal(ctx)
	require.NoError(t, err)
	require.True(t, res.Sealed)

	_, err = m.Up(ctx)
	require.NoError(t, err)
	write()
	s, err := seal.New(pool, seal.Options{})
	require.NoError(t, err)
	res, err = s.Seal(ctx)
	require.NoError(t, err)
	require.True(t, res.Sealed)
	require.Equal(t, int64(1), queryInt(t, pool, `SELECT version FROM rac.seals WHERE id = 1`))
	require.Equal(t, int64(2), queryInt(t, pool, `SELECT version FROM rac.seals WHERE id = 2`))
	require.Equal(t, int64(20), queryInt(t, pool, `SELECT count(*) FROM rac.acks WHERE author_id IS NULL`))
	require.Equal(t, int64(20), queryInt(t, pool, `SELECT count(*) FROM rac.acks a JOIN rac.authors au ON au.id = a.author_id WHERE au.role_name = current_user`))

	rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, rep.Intact(), "%+v", rep)

	for _, sealID := range []int64{1, 2} {
		id := queryInt(t, pool, `SELECT min(a.id) FROM rac.acks a, rac.seals s
			WHERE s.id = $1 AND a.tx_id >= s.horizon_from AND a.tx_id < s.horizon_to`, sealID)
		p, err := seal.Prove(ctx, pool, "acks", id)
		require.NoError(t, err)
		require.Equal(t, sealID, p.Seal.ID)
		data, err := hex.DecodeString(p.LeafData)
		require.NoError(t, err)
		require.Equal(t, byte(p.Seal.Version), data[0], "the leaf is in its seal's version")
		require.NoError(t, seal.VerifyProof(p, nil))
	}

	// The author of a row sealed in version 2 is covered.
	another := queryInt(t, pool, `INSERT INTO rac.authors (role_name, role_oid) VALUES ('mallory', 1) RETURNING id`)
	tamper(t, pool, `UPDATE rac.acks SET author_id = $1 WHERE id = (SELECT max(id) FROM rac.acks)`, another)
	rep, err = seal.Verify(ctx, pool, seal.VerifyOptions{})
	require.NoError(t, err)
	require.False(t, rep.Intact())
	require.NotNil(t, rep.Tamper)
	require.Equal(t, int64(2), rep.Tamper.SealID)
	require.Equal(t, canon.Tables[1].Stem, rep.Tamper.Table)
}
