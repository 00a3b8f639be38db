package seal_test

import (
	"context"
	"encoding/hex"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/internal/seal"
)

func TestSealAndVerifyCleanLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)

	t.Run("an empty ledger seals nothing and verifies", func(t *testing.T) {
		res, err := seal.Seal(ctx, pool)
		require.NoError(t, err)
		require.False(t, res.Sealed)
		require.Nil(t, res.Head)
		rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{})
		require.NoError(t, err)
		require.Nil(t, rep.Tamper)
		require.Zero(t, rep.Seals)
	})

	populate(t, pool, 20000) // more than two fetches per table
	pgtest.WaitFinal(t, pool)
	first, err := seal.Seal(ctx, pool)
	require.NoError(t, err)
	require.True(t, first.Sealed)
	require.Equal(t, int64(1), first.Head.ID)
	require.Equal(t, int64(0), first.Seal.HorizonFrom)
	require.Equal(t, canon.Hash{}, first.Seal.PrevHash)
	require.Equal(t, []int64{20000, 20000, 20000, 20000, 20000, 20000}, first.Seal.RowCounts)

	again, err := seal.Seal(ctx, pool)
	require.NoError(t, err)
	require.False(t, again.Sealed, "nothing new is final")
	require.Equal(t, first.Head, again.Head)

	populate(t, pool, 10)
	pgtest.WaitFinal(t, pool)
	second, err := seal.Seal(ctx, pool)
	require.NoError(t, err)
	require.True(t, second.Sealed)
	require.Equal(t, int64(2), second.Head.ID)
	require.Equal(t, first.Seal.HorizonTo, second.Seal.HorizonFrom)
	require.Equal(t, first.Head.Hash, second.Seal.PrevHash)
	require.Equal(t, int64(60), second.Rows)

	var progress []int64
	rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{
		Head: &first.Head.Hash,
		Progress: func(p seal.Progress) {
			if n := len(progress); n == 0 || progress[n-1] != p.SealID {
				progress = append(progress, p.SealID)
			}
		},
	})
	require.NoError(t, err)
	require.Nil(t, rep.Tamper)
	require.Equal(t, 2, rep.Seals)
	require.Equal(t, int64(120060), rep.Rows)
	require.Equal(t, *second.Head, *rep.Head)
	require.Equal(t, int64(1), rep.HeadFoundAt)
	require.Equal(t, []int64{1, 2}, progress)

	rep, err = seal.Verify(ctx, pool, seal.VerifyOptions{From: 2, Head: &second.Head.Hash})
	require.NoError(t, err)
	require.Nil(t, rep.Tamper)
	require.Equal(t, 1, rep.Seals)

	chunks := queryInt(t, pool, "SELECT count(*) FROM rac.seal_chunks WHERE seal_id = 1 AND table_name = 'acks'")
	require.Equal(t, int64(3), chunks, "20000 rows in chunks of 8192")
}

// sealed returns a pool whose ledger holds n rows per table in one seal
// and m more in a second seal, and the two heads.
func sealed(t *testing.T, n, m int) (*seal.Result, *seal.Result, func(string, ...any), *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	populate(t, pool, n)
	pgtest.WaitFinal(t, pool)
	first, err := seal.Seal(ctx, pool)
	require.NoError(t, err)
	require.True(t, first.Sealed)
	populate(t, pool, m)
	pgtest.WaitFinal(t, pool)
	second, err := seal.Seal(ctx, pool)
	require.NoError(t, err)
	require.True(t, second.Sealed)
	return &first, &second, func(stmt string, args ...any) { tamper(t, pool, stmt, args...) }, pool
}

func verify(t *testing.T, pool *pgxpool.Pool, opts seal.VerifyOptions) *seal.Tamper {
	t.Helper()
	rep, err := seal.Verify(context.Background(), pool, opts)
	require.NoError(t, err)
	require.NotNil(t, rep.Tamper, "tampering not detected")
	t.Logf("detected: %s", rep.Tamper)
	return rep.Tamper
}

func TestVerifyDetectsAndLocatesTampering(t *testing.T) {
	t.Parallel()

	t.Run("an edited ack", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 100, 100)
		id := queryInt(t, pool, "SELECT id FROM rac.acks ORDER BY id OFFSET 150 LIMIT 1")
		do("UPDATE rac.acks SET result_id = 'forged' WHERE id = $1", id)
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, seal.Tamper{SealID: 2, Kind: seal.KindEdited, Table: "acks", RowID: id, Detail: got.Detail}, *got)
	})

	t.Run("a deleted expectation", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 100, 100)
		id := queryInt(t, pool, "SELECT id FROM rac.expectations ORDER BY id OFFSET 40 LIMIT 1")
		do("DELETE FROM rac.expectations WHERE id = $1", id)
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, int64(1), got.SealID)
		require.Equal(t, seal.KindDeleted, got.Kind)
		require.Equal(t, "expectations", got.Table)
		require.Equal(t, id-1, got.After)
		require.Equal(t, id+1, got.Before)
		require.Contains(t, got.Detail, "99 rows, sealed 100")
	})

	t.Run("a finding inserted into a sealed window", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 100, 100)
		txID := queryInt(t, pool, "SELECT tx_id FROM rac.findings ORDER BY id LIMIT 1")
		do(`INSERT INTO rac.findings (tx_id, reconciliation_id, violated_at, run_id, tenant_id, action_id, kind)
		    VALUES ($1, 1, now(), gen_random_uuid(), 1, 1, 'drift')`, txID)
		id := queryInt(t, pool, "SELECT max(id) FROM rac.findings")
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, int64(1), got.SealID)
		require.Equal(t, seal.KindInserted, got.Kind)
		require.Equal(t, "findings", got.Table)
		require.Equal(t, id, got.RowID)
	})

	t.Run("a reordered pair of ids", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 100, 100)
		a := queryInt(t, pool, "SELECT id FROM rac.acks ORDER BY id OFFSET 10 LIMIT 1")
		b := queryInt(t, pool, "SELECT id FROM rac.acks ORDER BY id OFFSET 11 LIMIT 1")
		// An identity column ALWAYS generated: the superuser relaxes it first.
		do("ALTER TABLE rac.acks ALTER COLUMN id SET GENERATED BY DEFAULT")
		do("UPDATE rac.acks SET id = CASE id WHEN $1::bigint THEN $2::bigint ELSE $1::bigint END WHERE id IN ($1, $2)", a, b)
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, int64(1), got.SealID)
		require.Equal(t, seal.KindEdited, got.Kind)
		require.Equal(t, "acks", got.Table)
		require.Equal(t, a, got.RowID)
	})

	t.Run("an edited tx_id within the seal's window", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 100, 100)
		id := queryInt(t, pool, "SELECT id FROM rac.acks ORDER BY id OFFSET 40 LIMIT 1")
		do("UPDATE rac.acks SET tx_id = tx_id - 1 WHERE id = $1", id)
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, seal.Tamper{SealID: 1, Kind: seal.KindEdited, Table: "acks", RowID: id, Detail: got.Detail}, *got)
	})

	t.Run("an edited tx_id moving a row to a later seal", func(t *testing.T) {
		t.Parallel()
		first, _, do, pool := sealed(t, 100, 100)
		id := queryInt(t, pool, "SELECT id FROM rac.acks ORDER BY id OFFSET 40 LIMIT 1")
		do("UPDATE rac.acks SET tx_id = $2 WHERE id = $1", id, first.Seal.HorizonTo)
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, int64(1), got.SealID, "the row is missing from its own seal first")
		require.Equal(t, seal.KindDeleted, got.Kind)
		require.Equal(t, "acks", got.Table)
		require.Equal(t, id-1, got.After)
		require.Equal(t, id+1, got.Before)
	})

	// An attacker who also rewrites the locating hints defeats locating,
	// never detection: verify reports the table whose count differs, or the
	// root.
	t.Run("a deleted row with its hint removed too", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 100, 100)
		id := queryInt(t, pool, "SELECT id FROM rac.expectations ORDER BY id OFFSET 40 LIMIT 1")
		do("DELETE FROM rac.expectations WHERE id = $1", id)
		do(`UPDATE rac.seal_chunks SET leaf_prefixes = overlay(leaf_prefixes PLACING ''::bytea FROM 8 * 40 + 1 FOR 8),
		        row_count = row_count - 1
		    WHERE seal_id = 1 AND table_name = 'expectations' AND chunk_no = 0`)
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, seal.Tamper{SealID: 1, Kind: seal.KindCount, Table: "expectations", Detail: got.Detail}, *got)
		require.Contains(t, got.Detail, "99 rows, sealed 100")
	})

	t.Run("an edited row with its hint rewritten too", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 100, 100)
		tb, _, err := canon.Lookup("acks")
		require.NoError(t, err)
		id := queryInt(t, pool, "SELECT id FROM rac.acks ORDER BY id OFFSET 40 LIMIT 1")
		require.Equal(t, storedPrefix(t, pool, "acks", 40), leafPrefix(t, pool, tb, id), "the hint of the row as sealed")
		do("UPDATE rac.acks SET result_id = 'forged' WHERE id = $1", id)
		do(`UPDATE rac.seal_chunks SET leaf_prefixes = overlay(leaf_prefixes PLACING $1 FROM 8 * 40 + 1 FOR 8)
		    WHERE seal_id = 1 AND table_name = 'acks' AND chunk_no = 0`, leafPrefix(t, pool, tb, id))
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, seal.Tamper{SealID: 1, Kind: seal.KindRoot, Detail: got.Detail}, *got)
	})

	t.Run("a changed seal row", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 10, 10)
		do("UPDATE rac.seals SET row_counts[2] = row_counts[2] - 1 WHERE id = 1")
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, int64(1), got.SealID)
		require.Equal(t, seal.KindSealChanged, got.Kind)
	})

	t.Run("a forged seal_hash", func(t *testing.T) {
		t.Parallel()
		_, _, do, pool := sealed(t, 10, 10)
		do("UPDATE rac.seals SET seal_hash = sha256(seal_hash) WHERE id = 1")
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, int64(1), got.SealID)
		require.Equal(t, seal.KindSealChanged, got.Kind)
	})

	t.Run("a deleted middle seal breaks the chain", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.NewPool(t)
		for range 3 {
			populate(t, pool, 5)
			pgtest.WaitFinal(t, pool)
			_, err := seal.Seal(context.Background(), pool)
			require.NoError(t, err)
		}
		tamper(t, pool, "DELETE FROM rac.seals WHERE id = 2")
		got := verify(t, pool, seal.VerifyOptions{})
		require.Equal(t, int64(3), got.SealID)
		require.Equal(t, seal.KindChainBroken, got.Kind)
	})

	t.Run("a truncated chain against a published head", func(t *testing.T) {
		t.Parallel()
		_, second, do, pool := sealed(t, 10, 10)
		do("DELETE FROM rac.seal_chunks WHERE seal_id = 2")
		do("DELETE FROM rac.seals WHERE id = 2")
		rep, err := seal.Verify(context.Background(), pool, seal.VerifyOptions{})
		require.NoError(t, err)
		require.Nil(t, rep.Tamper, "without a published head a truncated chain is self-consistent")
		got := verify(t, pool, seal.VerifyOptions{Head: &second.Head.Hash})
		require.Equal(t, seal.KindHeadMissing, got.Kind)
		require.Equal(t, int64(1), got.SealID)
	})
}

// leafPrefix returns the first 8 bytes of the leaf hash of row id of tb
// as the ledger holds it now.
func leafPrefix(t *testing.T, pool *pgxpool.Pool, tb *canon.Table, id int64) []byte {
	t.Helper()
	rows, err := pool.Query(context.Background(), tb.Select, 0, int64(math.MaxInt64))
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(t, err)
		if vals[0] != id {
			continue
		}
		leaf, err := tb.EncodeLeaf(vals)
		require.NoError(t, err)
		h := canon.LeafHash(leaf)
		return h[:8]
	}
	require.NoError(t, rows.Err())
	t.Fatalf("no %s id %d", tb.Stem, id)
	return nil
}

// storedPrefix returns the stored hint of the row at index i of table's
// window in seal 1.
func storedPrefix(t *testing.T, pool *pgxpool.Pool, table string, i int) []byte {
	t.Helper()
	var p []byte
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT substring(leaf_prefixes FROM 8 * $2 + 1 FOR 8)
		FROM rac.seal_chunks WHERE seal_id = 1 AND table_name = $1 AND chunk_no = 0`, table, i).Scan(&p))
	return p
}

func TestConcurrentSealersDoNotFork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	populate(t, pool, 1000)
	pgtest.WaitFinal(t, pool)
	var wg sync.WaitGroup
	results := make([]seal.Result, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = seal.Seal(ctx, pool) })
	}
	wg.Wait()
	sealedCount := 0
	for i := range results {
		require.NoError(t, errs[i])
		if results[i].Sealed {
			sealedCount++
		}
		require.Equal(t, int64(1), results[i].Head.ID)
	}
	require.Equal(t, 1, sealedCount)
	require.Equal(t, int64(1), queryInt(t, pool, "SELECT count(*) FROM rac.seals"))
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	sealer, err := seal.New(pool, seal.Options{})
	require.NoError(t, err)

	const writers, txPerWriter, sealers = 4, 60, 2
	// Goroutines other than the test's must not call require: each returns
	// its first error here.
	writerErrs := make([]error, writers)
	var writersDone sync.WaitGroup
	for w := range writers {
		writersDone.Go(func() {
			for range txPerWriter {
				if writerErrs[w] = insertRows(ctx, pool, 3); writerErrs[w] != nil {
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	sealErrs := make([]error, sealers)
	var sealersDone sync.WaitGroup
	for s := range sealers {
		sealersDone.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, sealErrs[s] = sealer.Seal(ctx); sealErrs[s] != nil {
					return
				}
			}
		})
	}
	writersDone.Wait()
	close(stop)
	sealersDone.Wait()
	for _, err := range append(writerErrs, sealErrs...) {
		require.NoError(t, err)
	}
	pgtest.WaitFinal(t, pool)
	_, err = sealer.Seal(ctx)
	require.NoError(t, err)

	// How many seals the writers' rows spread over depends on how the
	// cluster-wide horizon moved; the claims below hold for any number.
	t.Logf("%d seals", queryInt(t, pool, "SELECT count(*) FROM rac.seals"))
	for i, tb := range canon.Tables {
		total := queryInt(t, pool, "SELECT count(*) FROM "+tb.Name)
		require.Equal(t, int64(writers*txPerWriter*3), total)
		sealedRows := queryInt(t, pool, "SELECT coalesce(sum(row_counts[$1]), 0)::bigint FROM rac.seals", i+1)
		require.Equal(t, total, sealedRows, "%s: rows across seals", tb.Stem)
		// Every row lies in exactly one seal's window.
		pairs := queryInt(t, pool, "SELECT count(*) FROM "+tb.Name+" x JOIN rac.seals s ON x.tx_id >= s.horizon_from AND x.tx_id < s.horizon_to")
		require.Equal(t, total, pairs, "%s: (row, seal) pairs", tb.Stem)
	}
	rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Tamper)
	require.Equal(t, int64(writers*txPerWriter*3*len(canon.Tables)), rep.Rows)
}

func TestInclusionProofs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, second, _, pool := sealed(t, 50, 30)

	for _, table := range []string{"expectations", "acks", "resolutions", "reconciliations"} {
		t.Run("a proof of a row of "+table+" verifies", func(t *testing.T) {
			tb, _, err := canon.Lookup(table)
			require.NoError(t, err)
			id := queryInt(t, pool, "SELECT id FROM "+tb.Name+" ORDER BY id OFFSET 60 LIMIT 1")
			p, err := seal.Prove(ctx, pool, table, id)
			require.NoError(t, err)
			require.Equal(t, int64(2), p.Seal.ID)
			require.NoError(t, seal.VerifyProof(p, nil))
			require.NoError(t, seal.VerifyProof(p, &second.Head.Hash))
		})
	}

	// A row of seal 1, proved against the latest seal: the proof carries
	// seal 2 as its chain and verifies against either head.
	firstAck := queryInt(t, pool, "SELECT min(id) FROM rac.acks")
	chained, err := seal.Prove(ctx, pool, "acks", firstAck)
	require.NoError(t, err)
	require.Equal(t, int64(1), chained.Seal.ID)
	require.Len(t, chained.Chain, 1)
	require.NoError(t, seal.VerifyProof(chained, &first.Head.Hash))
	require.NoError(t, seal.VerifyProof(chained, &second.Head.Hash))
	t.Run("a proof with an altered chain fails", func(t *testing.T) {
		for name, f := range map[string]func(c *seal.SealJSON){
			"row counts": func(c *seal.SealJSON) { c.RowCounts[0]++ },
			"prev hash":  func(c *seal.SealJSON) { c.PrevHash = canon.EmptyRoot.String() },
			"seal hash":  func(c *seal.SealJSON) { c.SealHash = canon.EmptyRoot.String() },
			"id":         func(c *seal.SealJSON) { c.ID++ },
		} {
			q := *chained
			q.Chain = []seal.SealJSON{chained.Chain[0]}
			q.Chain[0].RowCounts = append([]int64(nil), chained.Chain[0].RowCounts...)
			f(&q.Chain[0])
			require.ErrorIs(t, seal.VerifyProof(&q, &second.Head.Hash), seal.ErrBadProof, name)
		}
		// A chain cut short no longer reaches the later head.
		q := *chained
		q.Chain = nil
		require.ErrorIs(t, seal.VerifyProof(&q, &second.Head.Hash), seal.ErrBadProof)
	})

	// Proved through seal 1 only: no chain.
	p, err := seal.ProveThrough(ctx, pool, "acks", firstAck, 1)
	require.NoError(t, err)
	require.Equal(t, int64(1), p.Seal.ID)
	require.Empty(t, p.Chain)
	require.NoError(t, seal.VerifyProof(p, &first.Head.Hash))
	_, err = seal.ProveThrough(ctx, pool, "acks", queryInt(t, pool, "SELECT max(id) FROM rac.acks"), 1)
	require.ErrorIs(t, err, seal.ErrNotSealed, "a row of seal 2 cannot be proved through seal 1")

	alter := map[string]func(p *seal.Proof){
		"an altered leaf": func(p *seal.Proof) {
			b, _ := hex.DecodeString(p.LeafData)
			b[len(b)-1] ^= 1
			p.LeafData = hex.EncodeToString(b)
			p.LeafHash = ""
		},
		"another row id":     func(p *seal.Proof) { p.RowID++ },
		"another table":      func(p *seal.Proof) { p.Table = "expectations" },
		"an altered path":    func(p *seal.Proof) { p.AuditPath[0] = canon.EmptyRoot.String() },
		"another leaf index": func(p *seal.Proof) { p.LeafIndex++ },
		"an altered seal":    func(p *seal.Proof) { p.Seal.HorizonTo++ },
		"an altered root":    func(p *seal.Proof) { p.Seal.MerkleRoot = canon.EmptyRoot.String() },
	}
	for name, f := range alter {
		t.Run("a proof with "+name+" fails", func(t *testing.T) {
			q := *p
			q.AuditPath = append([]string(nil), p.AuditPath...)
			q.Seal.RowCounts = append([]int64(nil), p.Seal.RowCounts...)
			f(&q)
			require.ErrorIs(t, seal.VerifyProof(&q, nil), seal.ErrBadProof)
		})
	}
	t.Run("a proof against another head fails", func(t *testing.T) {
		require.ErrorIs(t, seal.VerifyProof(p, &second.Head.Hash), seal.ErrBadProof)
	})
	t.Run("an unsealed row has no proof", func(t *testing.T) {
		populate(t, pool, 1)
		_, err := seal.Prove(ctx, pool, "acks", queryInt(t, pool, "SELECT max(id) FROM rac.acks"))
		require.ErrorIs(t, err, seal.ErrNotSealed)
		_, err = seal.Prove(ctx, pool, "acks", 1<<40)
		require.ErrorIs(t, err, seal.ErrRowNotFound)
	})
}

// loginPool returns a pool logged in as a new login role made by stmts
// (%s stands for its name), dropped when the test ends, with settings as
// runtime parameters.
func loginPool(t *testing.T, pool *pgxpool.Pool, settings map[string]string, stmts ...string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	name := "seal_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	_, err := pool.Exec(ctx, `CREATE ROLE `+name+` LOGIN PASSWORD 'pw'`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP OWNED BY `+name+`; DROP ROLE `+name)
	})
	for _, s := range stmts {
		_, err := pool.Exec(ctx, strings.ReplaceAll(s, "%s", name))
		require.NoError(t, err, s)
	}
	cfg := pool.Config().Copy()
	cfg.ConnConfig.User, cfg.ConnConfig.Password = name, "pw"
	for k, v := range settings {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// A session that row-level security limits to some tenants would seal,
// verify or prove over some tenants' rows only: it is refused. The
// reconciler role sees every row whatever rac.tenant says, and seals.
func TestSealingNeedsTheWholeLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	_, err := pool.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('acme')`)
	require.NoError(t, err)
	populate(t, pool, 20)
	pgtest.WaitFinal(t, pool)

	reader := []string{
		`GRANT USAGE ON SCHEMA rac TO %s`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA rac TO %s`,
		`GRANT INSERT ON rac.seals, rac.seal_chunks TO %s`,
	}
	pinned := loginPool(t, pool, nil, append(reader,
		`INSERT INTO rac.tenant_roles (role_name, tenant_id) SELECT '%s', id FROM rac.tenants WHERE name = 'acme'`)...)
	_, err = seal.Seal(ctx, pinned)
	require.ErrorIs(t, err, seal.ErrPartialView)
	_, err = seal.Verify(ctx, pinned, seal.VerifyOptions{})
	require.ErrorIs(t, err, seal.ErrPartialView)
	require.Zero(t, queryInt(t, pool, "SELECT count(*) FROM rac.seals"), "nothing sealed")

	named := loginPool(t, pool, map[string]string{"rac.tenant": "acme"}, reader...)
	_, err = seal.Seal(ctx, named)
	require.ErrorIs(t, err, seal.ErrPartialView, "an unpinned role that names a tenant sees only it")

	reconciler := loginPool(t, pool, map[string]string{"rac.tenant": "acme"}, `GRANT rac_reconciler TO %s`)
	res, err := seal.Seal(ctx, reconciler)
	require.NoError(t, err)
	require.True(t, res.Sealed)
	require.Equal(t, int64(20), res.Seal.RowCounts[1], "every ack, of every tenant")
	rep, err := seal.Verify(ctx, reconciler, seal.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Tamper)
	_, err = seal.Prove(ctx, pinned, "acks", queryInt(t, pool, "SELECT min(id) FROM rac.acks"))
	require.ErrorIs(t, err, seal.ErrPartialView)
}
