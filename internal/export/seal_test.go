package export_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/export"
	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/internal/seal"
	"github.com/racledger/racledger/ledger"
)

// sealAll seals every row written so far and returns the new seal's id.
func sealAll(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	pgtest.WaitFinal(t, pool)
	res, err := seal.Seal(context.Background(), pool)
	require.NoError(t, err)
	require.True(t, res.Sealed)
	return res.Head.ID
}

// sealedDataset is the dataset of setup sealed in three seals: seal 1 the
// dataset and its reconciliation, seal 2 a second batch of runs and its
// reconciliation, seal 3 two acks (one with an empty result id).
func sealedDataset(t *testing.T) *dataset {
	d := setup(t)
	require.EqualValues(t, 1, sealAll(t, d.pool))
	ctx := context.Background()
	at := d.from.Add(30 * time.Second)
	for range 2 {
		run := uuid.New()
		ledgertest.DeclareRun(t, d.pool, "acme", run, at, time.Second)
		ledgertest.AckRun(t, d.pool, run, at.Add(time.Millisecond), ledger.CompleteTrace)
	}
	pgtest.WaitFinal(t, d.pool)
	reconcile(t, d.pool)
	require.EqualValues(t, 2, sealAll(t, d.pool))
	// An empty result id and a NULL one: CSV writes "" and nothing.
	_, err := d.pool.Exec(ctx, `
		INSERT INTO rac.acks (run_id, action_id, acked_at, result_id, metadata)
		SELECT gen_random_uuid(), c.id, $1, '', '{"empty": ""}' FROM rac.contract_actions c WHERE c.domain = 'logs' AND c.action = 'start_trace'`, at)
	require.NoError(t, err)
	ledgertest.Ack(t, d.pool, uuid.New(), ledger.Logs, ledger.StartTrace, "", at)
	require.EqualValues(t, 3, sealAll(t, d.pool))
	return d
}

func TestSealRangeExportVerifiesEverySeal(t *testing.T) {
	t.Parallel()
	d := sealedDataset(t)
	ctx := context.Background()
	for _, f := range export.Formats {
		t.Run(string(f), func(t *testing.T) {
			opts := export.Options{Seals: &export.SealRange{From: 1, To: 3}, Format: f, Dir: filepath.Join(t.TempDir(), "x")}
			m, err := export.Export(ctx, d.pool, opts)
			require.NoError(t, err)
			require.Equal(t, export.RangeSeals, m.Range.Kind)
			require.EqualValues(t, 1, *m.Range.FromSeal)
			require.EqualValues(t, 3, *m.Range.ToSeal)
			require.EqualValues(t, 0, *m.Range.TxIDFrom)
			require.Equal(t, m.Seals[2].HorizonTo, *m.Range.TxIDTo)
			require.True(t, m.Range.From.IsZero())
			require.Equal(t, "tx_id", m.Range.Columns["acks"])
			require.Len(t, m.Seals, 3)
			var total int64
			for i, s := range m.Seals {
				require.EqualValues(t, i+1, s.ID)
				require.True(t, s.Complete, "seal %d", s.ID)
				for _, n := range s.RowCounts {
					total += n
				}
			}
			require.NotNil(t, m.SealHead)
			require.EqualValues(t, 3, m.SealHead.ID)
			require.Equal(t, m.Seals[2].SealHash, m.SealHead.SealHash)
			require.Zero(t, m.UnsealedRows)
			var files int64
			for _, file := range m.Files {
				files += file.Rows
			}
			require.Equal(t, total, files, "the export holds exactly the sealed rows")

			res, err := export.Verify(opts.Dir, nil)
			require.NoError(t, err)
			require.True(t, res.Intact(), "%v", res.Problems)
			require.Len(t, res.Seals, 3)
			for _, s := range res.Seals {
				require.True(t, s.Checked && s.OK, "%s", s)
				require.Equal(t, s.WindowRows, s.Rows)
			}

			// A seal range needs no wait, and exporting it again (after
			// more rows were written) gives the same bytes.
			ledgertest.Ack(t, d.pool, uuid.New(), ledger.Logs, ledger.StartTrace, "", d.from.Add(time.Second))
			again := opts
			again.Dir = filepath.Join(t.TempDir(), "again")
			m2, err := export.Export(ctx, d.pool, again)
			require.NoError(t, err)
			require.Equal(t, m.Seals, m2.Seals)
			for _, file := range m.Files {
				a, err := os.ReadFile(filepath.Join(opts.Dir, file.Name))
				require.NoError(t, err)
				b, err := os.ReadFile(filepath.Join(again.Dir, file.Name))
				require.NoError(t, err)
				require.True(t, bytes.Equal(a, b), "%s differs on re-export", file.Name)
			}
		})
	}

	t.Run("one seal", func(t *testing.T) {
		opts := export.Options{Seals: &export.SealRange{From: 2, To: 2}, Format: export.CSV, Dir: t.TempDir()}
		m, err := export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		require.Len(t, m.Seals, 1)
		require.True(t, m.Seals[0].Complete)
		require.Equal(t, m.Seals[0].HorizonFrom, *m.Range.TxIDFrom)
		res, err := export.Verify(opts.Dir, nil)
		require.NoError(t, err)
		require.True(t, res.Intact(), "%v", res.Problems)
		require.True(t, res.Seals[0].Checked)
	})

	t.Run("a tenant makes the seals incomplete", func(t *testing.T) {
		opts := export.Options{Seals: &export.SealRange{From: 1, To: 3}, Tenant: "acme", Format: export.JSONL, Dir: t.TempDir()}
		m, err := export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		require.Len(t, m.Seals, 3)
		for _, s := range m.Seals {
			require.False(t, s.Complete, "seal %d", s.ID)
		}
		res, err := export.Verify(opts.Dir, nil)
		require.NoError(t, err)
		require.True(t, res.Intact(), "%v", res.Problems)
		for _, s := range res.Seals {
			require.False(t, s.Checked)
			require.Contains(t, s.String(), "not checked (the export holds ")
		}
	})

	t.Run("bad ranges", func(t *testing.T) {
		for name, o := range map[string]export.Options{
			"unknown seal":        {Seals: &export.SealRange{From: 2, To: 9}},
			"first after last":    {Seals: &export.SealRange{From: 3, To: 2}},
			"seal zero":           {Seals: &export.SealRange{From: 0, To: 2}},
			"seals and time both": {Seals: &export.SealRange{From: 1, To: 2}, From: d.from, To: d.to},
		} {
			o.Format, o.Dir = export.CSV, filepath.Join(t.TempDir(), "x")
			_, err := export.Export(ctx, d.pool, o)
			require.ErrorIs(t, err, export.ErrInvalid, name)
		}
		_, err := export.ParseSealRange("2..x")
		require.ErrorIs(t, err, export.ErrInvalid)
		r, err := export.ParseSealRange("4")
		require.NoError(t, err)
		require.Equal(t, export.SealRange{From: 4, To: 4}, r)
	})
}

// TestTimeRangeExportListsCoveringSeals: seal 1 holds only rows of the
// range (complete), seal 2 rows in and out of it (listed, incomplete),
// seal 3 only rows outside it (not listed), and one row of the range is
// not sealed yet.
func TestTimeRangeExportListsCoveringSeals(t *testing.T) {
	t.Parallel()
	d := setup(t)
	require.EqualValues(t, 1, sealAll(t, d.pool))
	inRange, before := d.from.Add(10*time.Second), d.from.Add(-time.Hour)
	ledgertest.Ack(t, d.pool, uuid.New(), ledger.Logs, ledger.StartTrace, "", inRange)
	ledgertest.Ack(t, d.pool, uuid.New(), ledger.Logs, ledger.StartTrace, "", before)
	require.EqualValues(t, 2, sealAll(t, d.pool))
	ledgertest.Ack(t, d.pool, uuid.New(), ledger.Logs, ledger.StartTrace, "", before)
	require.EqualValues(t, 3, sealAll(t, d.pool))
	ledgertest.Ack(t, d.pool, uuid.New(), ledger.Logs, ledger.StartTrace, "", inRange)
	pgtest.WaitFinal(t, d.pool)

	for _, f := range export.Formats {
		t.Run(string(f), func(t *testing.T) {
			opts := d.options(t, f)
			m, err := export.Export(context.Background(), d.pool, opts)
			require.NoError(t, err)
			require.Equal(t, export.RangeTime, m.Range.Kind)
			require.Nil(t, m.Range.FromSeal)
			require.Len(t, m.Seals, 2)
			require.EqualValues(t, 1, m.Seals[0].ID)
			require.True(t, m.Seals[0].Complete)
			require.EqualValues(t, 2, m.Seals[1].ID)
			require.False(t, m.Seals[1].Complete)
			require.Equal(t, export.RowCounts{0, 2, 0, 0, 0, 0}, m.Seals[1].RowCounts)
			require.Equal(t, m.Seals[0].SealHash, m.Seals[1].PrevHash)
			require.Equal(t, &export.SealHead{ID: 3, SealHash: m.SealHead.SealHash, HorizonTo: m.SealHead.HorizonTo}, m.SealHead)
			require.EqualValues(t, 1, m.UnsealedRows)

			res, err := export.Verify(opts.Dir, nil)
			require.NoError(t, err)
			require.True(t, res.Intact(), "%v", res.Problems)
			require.Len(t, res.Seals, 2)
			require.True(t, res.Seals[0].Checked && res.Seals[0].OK)
			require.False(t, res.Seals[1].Checked)
			require.True(t, res.Seals[1].OK)
			require.Equal(t, "seal 2: not checked (the export holds 1 of 2 rows of its window)", res.Seals[1].String())
		})
	}

	t.Run("no seals at all", func(t *testing.T) {
		d := setup(t)
		opts := d.options(t, export.CSV)
		m, err := export.Export(context.Background(), d.pool, opts)
		require.NoError(t, err)
		require.Empty(t, m.Seals)
		require.Nil(t, m.SealHead)
		var rows int64
		for _, f := range m.Files {
			rows += f.Rows
		}
		require.Equal(t, rows, m.UnsealedRows)
		raw, err := os.ReadFile(filepath.Join(opts.Dir, export.ManifestName))
		require.NoError(t, err)
		require.Contains(t, string(raw), `"seal_head": null`)
		res, err := export.Verify(opts.Dir, nil)
		require.NoError(t, err)
		require.True(t, res.Intact(), "%v", res.Problems)
	})
}

// rewriteManifest applies edit to dir's manifest after recomputing every
// file's size, SHA-256 and row count from what is on disk (rows given by
// rows, per file name, when the tamperer changed them): what an attacker
// without the signing key can do.
func rewriteManifest(t *testing.T, dir string, rows map[string]int64, edit func(*export.Manifest)) {
	t.Helper()
	path := filepath.Join(dir, export.ManifestName)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	m, err := export.ParseManifest(raw)
	require.NoError(t, err)
	for i := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, m.Files[i].Name))
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		m.Files[i].SHA256, m.Files[i].Bytes = hex.EncodeToString(sum[:]), int64(len(b))
		if n, ok := rows[m.Files[i].Name]; ok {
			m.Files[i].Rows = n
		}
	}
	if edit != nil {
		edit(m)
	}
	out, err := m.Marshal()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, out, 0o644))
}

// replaceInFile replaces the first old in the file with new, which must
// have the same length only where the format needs it (never here).
func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644))
}

// TestSealRangeExportDoesNotWait: a transaction still in progress keeps a
// time range open, but not a seal range, whose rows are final: the seal
// range exports at once, without Wait, and holds exactly the sealed rows.
func TestSealRangeExportDoesNotWait(t *testing.T) {
	t.Parallel()
	d := sealedDataset(t)
	ctx := context.Background()
	tx, err := d.pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	ledgertest.Ack(t, tx, uuid.New(), ledger.Logs, ledger.StartTrace, "", ledgertest.Now(t, tx))
	to := ledgertest.Now(t, d.pool)

	_, err = export.Export(ctx, d.pool, export.Options{From: d.from, To: to, Format: export.CSV, Dir: t.TempDir()})
	require.ErrorIs(t, err, export.ErrOpenRange, "the transaction keeps a time range open")

	opts := export.Options{Seals: &export.SealRange{From: 1, To: 3}, Format: export.CSV, Dir: t.TempDir()}
	m, err := export.Export(ctx, d.pool, opts)
	require.NoError(t, err)
	require.Len(t, m.Seals, 3)
	for i, f := range m.Files {
		var sealed int64
		for _, s := range m.Seals {
			require.True(t, s.Complete, "seal %d", s.ID)
			sealed += s.RowCounts[i]
		}
		require.Equal(t, sealed, f.Rows, "%s holds exactly the sealed rows", f.Name)
	}
	res, err := export.Verify(opts.Dir, nil)
	require.NoError(t, err)
	require.True(t, res.Intact(), "%v", res.Problems)
}

// readParquet returns the rows of the Parquet file at path, each value
// in its column's canonical position.
func readParquet(t *testing.T, path string) []parquet.Row {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	pf, err := parquet.OpenFile(f, st.Size())
	require.NoError(t, err)
	var rows []parquet.Row
	for _, rg := range pf.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rr.ReadRows(buf)
			for _, r := range buf[:n] {
				rows = append(rows, r.Clone())
			}
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
		}
		require.NoError(t, rr.Close())
	}
	require.NoError(t, f.Close())
	return rows
}

// editParquet rewrites a Parquet export file with edit applied to its
// rows, through the export's own schema.
func editParquet(t *testing.T, path, table string, edit func([]parquet.Row) []parquet.Row) {
	t.Helper()
	rows := readParquet(t, path)
	tbl, _, err := canon.Lookup(table)
	require.NoError(t, err)
	schema, err := export.ParquetSchema(tbl)
	require.NoError(t, err)
	var out bytes.Buffer
	w := parquet.NewWriter(&out, schema)
	_, err = w.WriteRows(edit(rows))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
}

// TestSealChecksCatchTampering: what checksums alone cannot catch once
// the manifest is rewritten to match, the seals do.
func TestSealChecksCatchTampering(t *testing.T) {
	t.Parallel()
	d := sealedDataset(t)
	ctx := context.Background()
	fresh := func(t *testing.T, f export.Format) (string, *export.Manifest) {
		opts := export.Options{Seals: &export.SealRange{From: 1, To: 3}, Format: f, Dir: filepath.Join(t.TempDir(), "x")}
		m, err := export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		return opts.Dir, m
	}

	t.Run("edited row, checksums rewritten", func(t *testing.T) {
		for _, f := range export.Formats {
			t.Run(string(f), func(t *testing.T) {
				dir, _ := fresh(t, f)
				path := filepath.Join(dir, "acks."+string(f))
				switch f {
				case export.CSV, export.JSONL:
					replaceInFile(t, path, "inc-42", "inc-43")
				case export.Parquet:
					editParquet(t, path, "acks", func(rows []parquet.Row) []parquet.Row {
						// acked_at (column 6) of the first ack, one microsecond later.
						v := rows[0][6]
						rows[0][6] = parquet.Int64Value(v.Int64()+1).Level(v.RepetitionLevel(), v.DefinitionLevel(), 6)
						return rows
					})
				}
				rewriteManifest(t, dir, nil, nil)
				res := requireProblems(t, dir, nil, "seal 1: the Merkle root of its ")
				for _, p := range res.Problems {
					require.NotEqual(t, "acks."+string(f), p.File, "the checksums match: only the seal finds it (%s)", p)
				}
				require.True(t, res.Seals[0].Checked)
				require.False(t, res.Seals[0].OK)
				require.True(t, res.Seals[1].OK && res.Seals[2].OK, "the other seals are intact")
			})
		}
	})

	t.Run("removed row, checksums and row count rewritten", func(t *testing.T) {
		dir, m := fresh(t, export.CSV)
		removeLine(t, filepath.Join(dir, "acks.csv"), 2)
		rewriteManifest(t, dir, map[string]int64{"acks.csv": m.Files[1].Rows - 1}, nil)
		requireProblems(t, dir, nil, "seal 1: marked complete, but acks.csv holds 11 of its 12 rows")
	})

	t.Run("removed row, seal marked incomplete", func(t *testing.T) {
		dir, m := fresh(t, export.JSONL)
		removeLine(t, filepath.Join(dir, "acks.jsonl"), 1)
		rewriteManifest(t, dir, map[string]int64{"acks.jsonl": m.Files[1].Rows - 1}, func(m *export.Manifest) {
			m.Seals[0].Complete = false
		})
		requireProblems(t, dir, nil, "seal 1: not complete in a seal-range export of every tenant")
	})

	t.Run("edited seal fields", func(t *testing.T) {
		cases := map[string]func(*export.Seal){
			"row_counts": func(s *export.Seal) { s.RowCounts[1]++ },
			"merkle_root": func(s *export.Seal) {
				s.MerkleRoot = strings.Repeat("ab", 32)
			},
			"sealed_at": func(s *export.Seal) { s.SealedAt = s.SealedAt.Add(time.Microsecond) },
		}
		for name, edit := range cases {
			t.Run(name, func(t *testing.T) {
				dir, _ := fresh(t, export.JSONL)
				rewriteManifest(t, dir, nil, func(m *export.Manifest) { edit(&m.Seals[1]) })
				requireProblems(t, dir, nil, "seal 2: its fields hash to ")
			})
		}
	})

	t.Run("forged seal, rehashed: the chain breaks", func(t *testing.T) {
		dir, _ := fresh(t, export.CSV)
		rewriteManifest(t, dir, nil, func(m *export.Manifest) {
			s := &m.Seals[1]
			s.SealedAt = s.SealedAt.Add(time.Second)
			h, err := s.Header()
			require.NoError(t, err)
			s.SealHash = h.Hash().String()
		})
		requireProblems(t, dir, nil, "seal 3: prev_hash ")
	})
}

func TestManifestFormatVersions(t *testing.T) {
	t.Parallel()
	v1 := `{"format_version": 1, "tool": "rac", "tool_version": "devel", "schema_version": 7,
	  "canonical_encoding": 1, "database": "x",
	  "range": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "columns": {}},
	  "tenant": null, "omitted": [], "format": "csv",
	  "snapshot": {"xmin": 1, "xmax": 1, "taken_at": "2026-01-02T00:00:00Z"},
	  "exported_at": "2026-01-02T00:00:00Z", "files": [], "seals": []}`
	m, err := export.ParseManifest([]byte(v1))
	require.NoError(t, err)
	require.Equal(t, export.RangeTime, m.Range.Kind, "a version 1 range is a time range")
	_, err = export.ParseManifest([]byte(strings.Replace(v1, `"format_version": 1`, `"format_version": 3`, 1)))
	require.Error(t, err)

	var rc export.RowCounts
	require.NoError(t, rc.UnmarshalJSON([]byte(`{"expectations":1,"acks":2,"findings":3,"resolutions":4,"verdicts":5,"reconciliations":6}`)))
	require.Equal(t, export.RowCounts{1, 2, 3, 4, 5, 6}, rc)
	b, err := rc.MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, `{"expectations":1,"acks":2,"findings":3,"resolutions":4,"verdicts":5,"reconciliations":6}`, string(b))
	require.Error(t, rc.UnmarshalJSON([]byte(`{"acks":2,"expectations":1,"findings":3,"resolutions":4,"verdicts":5,"reconciliations":6}`)), "canonical order")
	require.Error(t, rc.UnmarshalJSON([]byte(`{"expectations":1}`)))
}
