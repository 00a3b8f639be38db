package export_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/export"
	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dataset is a small ledger written in the past and reconciled: what an
// export of [from, to) must contain.
type dataset struct {
	pool     *pgxpool.Pool
	from, to time.Time
	// rows is the expected row count per file stem, all tenants.
	rows map[string]int64
}

// setup writes three runs of the default tenant and one of tenant acme an
// hour ago (one run fully acked, one missing its finalize, one with a
// failure report whose text spans lines and an ack with metadata), plus a
// drift ack, and reconciles them.
func setup(t *testing.T) *dataset {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	_, err := pool.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('acme')`)
	require.NoError(t, err)

	at := ledgertest.Now(t, pool).Add(-time.Hour).Truncate(time.Millisecond)
	runs := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for _, r := range runs {
		ledgertest.DeclareRun(t, pool, "default", r, at, time.Second)
	}
	acmeRun := uuid.New()
	ledgertest.DeclareRun(t, pool, "acme", acmeRun, at, time.Second)
	ledgertest.AckRun(t, pool, runs[0], at.Add(time.Millisecond))
	ledgertest.AckRun(t, pool, runs[1], at.Add(time.Millisecond), ledger.FinalizeRun)
	ledgertest.Ack(t, pool, runs[2], ledger.Incidents, ledger.CreateIncident, "boom,\n\"quoted\" line two", at.Add(2*time.Millisecond))
	ledgertest.Ack(t, pool, uuid.New(), ledger.Logs, ledger.StartTrace, "", at.Add(3*time.Millisecond)) // drift
	_, err = pool.Exec(ctx, `
		INSERT INTO rac.acks (run_id, action_id, acked_at, result_id, idempotency_key, metadata)
		SELECT $1, c.id, $2, 'inc-42', 'k1', '{"b": [1, 2.50], "a": "line\nbreak \"q\" é"}'
		FROM rac.contract_actions c WHERE c.domain = 'policies' AND c.action = 'evaluate_policy'`,
		runs[2], at.Add(4*time.Millisecond))
	require.NoError(t, err)
	pgtest.WaitFinal(t, pool)
	reconcile(t, pool)

	d := &dataset{pool: pool, from: at.Add(-time.Minute), to: ledgertest.Now(t, pool), rows: map[string]int64{}}
	// Written above: 20 expectations and 5 + 4 + 1 + 1 + 1 acks.
	d.rows["expectations"] = 20
	d.rows["acks"] = 12
	for _, tbl := range []struct{ stem, table, col string }{
		{"findings", "rac.findings", "detected_at"},
		{"resolutions", "rac.finding_resolutions", "recorded_at"},
		{"verdicts", "rac.run_verdicts", "recorded_at"},
		{"reconciliations", "rac.reconciliations", "finished_at"},
	} {
		var n int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+tbl.table+` WHERE `+tbl.col+` >= $1 AND `+tbl.col+` < $2`,
			d.from, d.to).Scan(&n))
		d.rows[tbl.stem] = n
	}
	require.Positive(t, d.rows["findings"], "the dataset has findings")
	require.Positive(t, d.rows["verdicts"], "the dataset has verdicts")
	require.Positive(t, d.rows["reconciliations"], "the dataset has a reconciliation")
	return d
}

func (d *dataset) options(t *testing.T, f export.Format) export.Options {
	return export.Options{From: d.from, To: d.to, Format: f, Dir: filepath.Join(t.TempDir(), "export")}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestExportKnownDataset(t *testing.T) {
	t.Parallel()
	d := setup(t)
	for _, f := range export.Formats {
		t.Run(string(f), func(t *testing.T) {
			opts := d.options(t, f)
			m, err := export.Export(context.Background(), d.pool, opts)
			require.NoError(t, err)

			require.Len(t, m.Files, len(canon.Tables), "one file per table")
			for i, file := range m.Files {
				tbl := canon.Tables[i]
				require.Equal(t, tbl.Name, file.Table, "files in seal order")
				require.Equal(t, tbl.Stem+"."+string(f), file.Name)
				require.Equal(t, d.rows[tbl.Stem], file.Rows, "rows of %s", file.Name)
				path := filepath.Join(opts.Dir, file.Name)
				require.Equal(t, fileSHA(t, path), file.SHA256, "sha256 of %s", file.Name)
				st, err := os.Stat(path)
				require.NoError(t, err)
				require.Equal(t, st.Size(), file.Bytes)
			}
			require.Equal(t, f, m.Format)
			require.Nil(t, m.Tenant)
			require.Empty(t, m.Omitted)
			require.NotNil(t, m.Seals)
			require.Positive(t, m.SchemaVersion)
			require.Equal(t, canon.Version, m.CanonicalEncoding)
			require.Equal(t, "acked_at", m.Range.Columns["acks"])

			// The manifest on disk is the one returned, and only the
			// manifest and data files are left.
			raw, err := os.ReadFile(filepath.Join(opts.Dir, export.ManifestName))
			require.NoError(t, err)
			onDisk, err := export.ParseManifest(raw)
			require.NoError(t, err)
			require.Equal(t, m.Files, onDisk.Files)
			entries, err := os.ReadDir(opts.Dir)
			require.NoError(t, err)
			require.Len(t, entries, len(canon.Tables)+1)

			res, err := export.Verify(opts.Dir, nil)
			require.NoError(t, err)
			require.True(t, res.Intact(), "%v", res.Problems)
			var total int64
			for _, n := range d.rows {
				total += n
			}
			require.Equal(t, total, res.Rows)
		})
	}
}

// TestExportFormatsAgree reads the acks back from every format and checks
// they hold the same values, as the docs describe them.
func TestExportFormatsAgree(t *testing.T) {
	t.Parallel()
	d := setup(t)
	dirs := map[export.Format]string{}
	for _, f := range export.Formats {
		opts := d.options(t, f)
		_, err := export.Export(context.Background(), d.pool, opts)
		require.NoError(t, err)
		dirs[f] = opts.Dir
	}

	// CSV: PostgreSQL's text output with a header of canonical names.
	fh, err := os.Open(filepath.Join(dirs[export.CSV], "acks.csv"))
	require.NoError(t, err)
	defer fh.Close()
	records, err := csv.NewReader(fh).ReadAll()
	require.NoError(t, err)
	acks, _, err := canon.Lookup("acks")
	require.NoError(t, err)
	require.Equal(t, acks.ColumnNames(), records[0])
	require.Len(t, records, 13)

	// JSONL: one object per line, keys in canonical order.
	jb, err := os.ReadFile(filepath.Join(dirs[export.JSONL], "acks.jsonl"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(jb), "\n"), "\n")
	require.Len(t, lines, 12)
	var withMeta, withError map[string]any
	objs := make([]map[string]any, len(lines))
	raws := make([]map[string]json.RawMessage, len(lines))
	for i, line := range lines {
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&obj), line)
		require.NoError(t, json.Unmarshal([]byte(line), &raws[i]), line)
		objs[i] = obj
		require.True(t, strings.HasPrefix(line, `{"id":`+records[i+1][0]+`,"tx_id":`+records[i+1][1]+`,"tenant":"default"`), line)
		require.Equal(t, records[i+1][3], obj["run_id"], "uuids as strings")
		ts, err := time.Parse(time.RFC3339Nano, obj["acked_at"].(string))
		require.NoError(t, err)
		require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, obj["acked_at"], "RFC 3339 UTC with microseconds")
		csvTS, err := time.Parse("2006-01-02 15:04:05.999999-07", records[i+1][6])
		require.NoError(t, err)
		require.True(t, ts.Equal(csvTS), "%s vs %s", ts, csvTS)
		if obj["metadata"] != nil {
			withMeta = obj
			require.Contains(t, line, `"metadata":{"a": "line\nbreak \"q\" é", "b": [1, 2.50]}`, "jsonb as PostgreSQL prints it")
			require.Equal(t, records[i+1][10], `{"a": "line\nbreak \"q\" é", "b": [1, 2.50]}`)
		}
		if obj["error"] != nil {
			withError = obj
			require.Equal(t, records[i+1][9], obj["error"])
		}
	}
	require.NotNil(t, withMeta)
	require.Equal(t, "boom,\n\"quoted\" line two", withError["error"])

	// Parquet: the same rows in typed columns, in canonical order.
	pb, err := os.ReadFile(filepath.Join(dirs[export.Parquet], "acks.parquet"))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(pb, []byte("PAR1")))
	require.NotContains(t, string(pb), "parquet-go", "no library build info in the file")
	res, err := export.Verify(dirs[export.Parquet], nil)
	require.NoError(t, err)
	require.True(t, res.Intact(), "%v", res.Problems)
	rows := readParquet(t, filepath.Join(dirs[export.Parquet], "acks.parquet"))
	require.Len(t, rows, len(objs))
	var sawError, sawMeta bool
	for i, row := range rows {
		obj, raw := objs[i], raws[i]
		require.Len(t, row, len(acks.Columns))
		require.Equal(t, obj["id"], json.Number(strconv.FormatInt(row[0].Int64(), 10)), "id")
		require.Equal(t, obj["tx_id"], json.Number(strconv.FormatInt(row[1].Int64(), 10)), "tx_id")
		require.Equal(t, obj["tenant"], string(row[2].ByteArray()), "tenant")
		runID, err := uuid.FromBytes(row[3].ByteArray())
		require.NoError(t, err)
		require.Equal(t, obj["run_id"], runID.String(), "run_id")
		require.Equal(t, obj["acked_at"], time.UnixMicro(row[6].Int64()).UTC().Format("2006-01-02T15:04:05.000000Z"), "acked_at")
		if row[9].IsNull() {
			require.Nil(t, obj["error"], "error")
		} else {
			sawError = true
			require.Equal(t, obj["error"], string(row[9].ByteArray()), "error")
		}
		if row[10].IsNull() {
			require.JSONEq(t, "null", string(raw["metadata"]), "metadata")
		} else {
			sawMeta = true
			require.Equal(t, string(raw["metadata"]), string(row[10].ByteArray()), "metadata, byte for byte")
		}
	}
	require.True(t, sawError && sawMeta, "rows with an error and with metadata compared")
}

// TestReexportIsByteIdentical: a closed range exported again, after more
// rows were written and reconciled, gives the same bytes in every file.
func TestReexportIsByteIdentical(t *testing.T) {
	t.Parallel()
	d := setup(t)
	ctx := context.Background()
	first := map[export.Format]string{}
	for _, f := range export.Formats {
		opts := d.options(t, f)
		_, err := export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		first[f] = opts.Dir
	}

	// Rows written now (database clock, after d.to) and a new pass.
	l := ledger.New(ledger.Options{Enabled: ptr(true)})
	run := uuid.New()
	require.NoError(t, l.Expect(ctx, d.pool, run, ledger.StandardRun(time.Millisecond)...))
	require.NoError(t, l.Ack(ctx, d.pool, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident}))
	pgtest.WaitFinal(t, d.pool)
	reconcile(t, d.pool)

	for _, f := range export.Formats {
		opts := d.options(t, f)
		m, err := export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		for _, file := range m.Files {
			a, err := os.ReadFile(filepath.Join(first[f], file.Name))
			require.NoError(t, err)
			b, err := os.ReadFile(filepath.Join(opts.Dir, file.Name))
			require.NoError(t, err)
			require.True(t, bytes.Equal(a, b), "%s differs on re-export", file.Name)
		}
	}
}

// reconcile runs one reconciler pass.
func reconcile(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	r, err := reconciler.New(pool, reconciler.Options{})
	require.NoError(t, err)
	_, err = r.RunOnce(context.Background())
	require.NoError(t, err)
}

func ptr[T any](v T) *T { return &v }

// TestExportRefusesAnOpenRange: a transaction that wrote into the range
// and has not committed makes the range open.
func TestExportRefusesAnOpenRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	from := ledgertest.Now(t, pool)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	ledgertest.Ack(t, tx, uuid.New(), ledger.Logs, ledger.StartTrace, "", ledgertest.Now(t, tx))
	to := ledgertest.Now(t, pool)

	opts := export.Options{From: from, To: to, Format: export.JSONL, Dir: t.TempDir()}
	_, err = export.Export(ctx, pool, opts)
	require.ErrorIs(t, err, export.ErrOpenRange)
	require.Contains(t, err.Error(), "pid ")
	_, err = os.Stat(filepath.Join(opts.Dir, export.ManifestName))
	require.ErrorIs(t, err, os.ErrNotExist, "no manifest after a failed export")
	entries, err := os.ReadDir(opts.Dir)
	require.NoError(t, err)
	require.Empty(t, entries)

	require.NoError(t, tx.Commit(ctx))
	m, err := export.Export(ctx, pool, opts)
	require.NoError(t, err)
	require.EqualValues(t, 1, m.Files[1].Rows, "the committed ack is exported")
}

// TestExportWaitsForAnOpenRangeToClose: with Wait, an export of a range
// that a transaction still holds open waits for it, then exports what it
// committed.
func TestExportWaitsForAnOpenRangeToClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	from := ledgertest.Now(t, pool)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	ledgertest.Ack(t, tx, uuid.New(), ledger.Logs, ledger.StartTrace, "", ledgertest.Now(t, tx))
	to := ledgertest.Now(t, pool)

	waiting := make(chan struct{})
	opts := export.Options{From: from, To: to, Format: export.JSONL, Dir: t.TempDir(), Wait: 30 * time.Second,
		Logger: slog.New(&signalHandler{msg: "export: waiting for transactions that may write into the range", ch: waiting})}
	type result struct {
		m   *export.Manifest
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := export.Export(ctx, pool, opts)
		done <- result{m, err}
	}()
	select {
	case <-waiting:
	case r := <-done:
		t.Fatalf("export returned before waiting: %v", r.err)
	}
	require.NoError(t, tx.Commit(ctx))
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, "acks.jsonl", r.m.Files[1].Name)
	require.EqualValues(t, 1, r.m.Files[1].Rows, "the ack committed while the export waited is exported")
}

// signalHandler is a slog handler that closes ch on the first record with
// message msg, at any level.
type signalHandler struct {
	msg  string
	ch   chan struct{}
	once sync.Once
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *signalHandler) WithGroup(string) slog.Handler            { return h }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}

func TestExportTenant(t *testing.T) {
	t.Parallel()
	d := setup(t)
	opts := d.options(t, export.CSV)
	opts.Tenant = "acme"
	m, err := export.Export(context.Background(), d.pool, opts)
	require.NoError(t, err)
	require.Equal(t, "acme", *m.Tenant)
	require.Len(t, m.Files, len(canon.Tables)-1)
	require.Equal(t, []export.Omitted{{Table: "rac.reconciliations",
		Reason: "ledger-wide (no tenant column): not exported with a tenant filter"}}, m.Omitted)
	require.EqualValues(t, 5, m.Files[0].Rows, "acme's expectations")
	require.EqualValues(t, 0, m.Files[1].Rows, "acme wrote no acks")
	b, err := os.ReadFile(filepath.Join(opts.Dir, "findings.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), ",acme,")
	require.NotContains(t, string(b), ",default,")

	opts = d.options(t, export.CSV)
	opts.Tenant = "nobody"
	_, err = export.Export(context.Background(), d.pool, opts)
	require.ErrorIs(t, err, export.ErrInvalid)
}

// Row-level security applies to exports: a role pinned to acme exports
// acme's rows, and the manifest says which tenants the session saw.
func TestExportIsScopedToTheSessionsTenants(t *testing.T) {
	t.Parallel()
	d := setup(t)
	ctx := context.Background()

	owner, err := export.Export(ctx, d.pool, d.options(t, export.JSONL))
	require.NoError(t, err)
	require.Equal(t, []string{"acme", "default"}, owner.VisibleTenants)

	name := "export_acme_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	for _, sql := range []string{
		`CREATE ROLE ` + name + ` LOGIN PASSWORD 'pw'`,
		`GRANT pg_read_all_stats TO ` + name, // to see other sessions' transactions (the range check)
		`GRANT USAGE ON SCHEMA rac TO ` + name,
		`GRANT SELECT ON ALL TABLES IN SCHEMA rac TO ` + name,
		`GRANT SELECT ON ` + pgx.Identifier{migrate.TableName}.Sanitize() + ` TO ` + name,
		`INSERT INTO rac.tenant_roles (role_name, tenant_id) SELECT '` + name + `', id FROM rac.tenants WHERE name = 'acme'`,
	} {
		_, err := d.pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	t.Cleanup(func() {
		_, _ = d.pool.Exec(context.Background(), `DROP OWNED BY `+name+`; DROP ROLE `+name)
	})
	cfg := d.pool.Config().ConnConfig.Copy()
	cfg.User, cfg.Password = name, "pw"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	opts := d.options(t, export.JSONL)
	m, err := export.Export(ctx, conn, opts)
	require.NoError(t, err)
	require.Nil(t, m.Tenant)
	require.Equal(t, []string{"acme"}, m.VisibleTenants)
	require.EqualValues(t, 5, m.Files[0].Rows, "acme's expectations only")
	b, err := os.ReadFile(filepath.Join(opts.Dir, "findings.jsonl"))
	require.NoError(t, err)
	require.Contains(t, string(b), `"tenant":"acme"`)
	require.NotContains(t, string(b), `"tenant":"default"`)
	res, err := export.Verify(opts.Dir, nil)
	require.NoError(t, err)
	require.True(t, res.Intact(), "%v", res.Problems)

	opts = d.options(t, export.JSONL)
	opts.Tenant = "default"
	_, err = export.Export(ctx, conn, opts)
	require.ErrorIs(t, err, export.ErrInvalid, "default is outside the pinned role's scope")
	require.Contains(t, err.Error(), "outside this session's tenant scope")
}

func TestExportRefusesBadOptions(t *testing.T) {
	t.Parallel()
	d := setup(t)
	ctx := context.Background()
	cases := map[string]func(*export.Options){
		"range end before start": func(o *export.Options) { o.From, o.To = o.To, o.From },
		"unknown format":         func(o *export.Options) { o.Format = "xml" },
		"range end in the future (ErrRangeNotEnded)": func(o *export.Options) {
			o.To = time.Now().Add(time.Hour)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			opts := d.options(t, export.CSV)
			mutate(&opts)
			_, err := export.Export(ctx, d.pool, opts)
			if strings.Contains(name, "ErrRangeNotEnded") {
				require.ErrorIs(t, err, export.ErrRangeNotEnded)
			} else {
				require.ErrorIs(t, err, export.ErrInvalid)
			}
			// A failed export leaves nothing behind, not even the
			// directory it created.
			_, err = os.Stat(opts.Dir)
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}

	t.Run("non-empty directory without force", func(t *testing.T) {
		opts := d.options(t, export.CSV)
		require.NoError(t, os.MkdirAll(opts.Dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(opts.Dir, "notes.txt"), []byte("x"), 0o644))
		_, err := export.Export(ctx, d.pool, opts)
		require.ErrorIs(t, err, export.ErrNotEmpty)
	})
	t.Run("force refuses a directory holding files no export writes", func(t *testing.T) {
		opts := d.options(t, export.CSV)
		_, err := export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(opts.Dir, "notes.txt"), []byte("x"), 0o644))
		opts.Force = true
		_, err = export.Export(ctx, d.pool, opts)
		require.ErrorIs(t, err, export.ErrNotEmpty)
		require.Contains(t, err.Error(), "notes.txt")
		_, err = os.Stat(filepath.Join(opts.Dir, export.ManifestName))
		require.NoError(t, err, "the previous export stays as it was")
	})
	t.Run("verify of a directory without a manifest is ErrIncomplete", func(t *testing.T) {
		for name, files := range map[string][]string{"empty": nil, "interrupted": {"acks.csv"}, "not an export": {"notes.txt"}} {
			dir := t.TempDir()
			for _, f := range files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644))
			}
			_, err := export.Verify(dir, nil)
			require.ErrorIs(t, err, export.ErrIncomplete, name)
		}
	})
	t.Run("force replaces a previous export", func(t *testing.T) {
		opts := d.options(t, export.CSV)
		_, err := export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		opts.Format = export.JSONL
		opts.Force = true
		_, err = export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		res, err := export.Verify(opts.Dir, nil)
		require.NoError(t, err)
		require.True(t, res.Intact(), "%v", res.Problems)
	})
}

func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	d := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	keyPrefix := filepath.Join(dir, "export")
	pub, err := export.GenerateKey(keyPrefix, nil)
	require.NoError(t, err)
	priv, err := export.LoadPrivateKey(keyPrefix + ".key")
	require.NoError(t, err)
	loadedPub, err := export.LoadPublicKey(keyPrefix + ".pub")
	require.NoError(t, err)
	require.Equal(t, pub, loadedPub)
	st, err := os.Stat(keyPrefix + ".key")
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	_, err = export.GenerateKey(keyPrefix, nil)
	require.Error(t, err, "keygen never overwrites a key")
	otherPub, err := export.GenerateKey(filepath.Join(dir, "other"), nil)
	require.NoError(t, err)

	// fresh exports the dataset signed and returns its directory.
	fresh := func(t *testing.T, f export.Format) string {
		opts := d.options(t, f)
		opts.SignKey = priv
		_, err := export.Export(ctx, d.pool, opts)
		require.NoError(t, err)
		res, err := export.Verify(opts.Dir, pub)
		require.NoError(t, err)
		require.True(t, res.Intact(), "%v", res.Problems)
		require.True(t, res.SignatureChecked)
		return opts.Dir
	}
	for _, f := range export.Formats {
		t.Run(string(f)+": flipped byte", func(t *testing.T) {
			dir := fresh(t, f)
			path := filepath.Join(dir, "acks."+string(f))
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x01
			require.NoError(t, os.WriteFile(path, b, 0o644))
			requireProblems(t, dir, pub, "acks."+string(f)+": sha256")
		})
	}
	for _, f := range []export.Format{export.CSV, export.JSONL} {
		t.Run(string(f)+": removed line", func(t *testing.T) {
			dir := fresh(t, f)
			path := filepath.Join(dir, "expectations."+string(f))
			removeLine(t, path, 3)
			requireProblems(t, dir, pub, "expectations."+string(f)+": sha256",
				"expectations."+string(f)+": 19 rows, manifest says 20")
		})
	}
	t.Run("missing and extra files", func(t *testing.T) {
		dir := fresh(t, export.CSV)
		require.NoError(t, os.Remove(filepath.Join(dir, "verdicts.csv")))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "extra.csv"), []byte("id\n"), 0o644))
		requireProblems(t, dir, nil, "verdicts.csv: missing", "extra.csv: not listed in the manifest")
	})
	t.Run("edited manifest", func(t *testing.T) {
		dir := fresh(t, export.JSONL)
		path := filepath.Join(dir, export.ManifestName)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		b = bytes.Replace(b, []byte(`"rows": 20`), []byte(`"rows": 21`), 1)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		requireProblems(t, dir, pub, "manifest.json.sig: does not verify", "expectations.jsonl: 20 rows, manifest says 21")
	})
	t.Run("wrong key", func(t *testing.T) {
		requireProblems(t, fresh(t, export.CSV), otherPub, "manifest.json.sig: does not verify")
	})
	t.Run("missing signature", func(t *testing.T) {
		dir := fresh(t, export.CSV)
		require.NoError(t, os.Remove(filepath.Join(dir, export.SignatureName)))
		requireProblems(t, dir, pub, "manifest.json.sig: missing")
		res, err := export.Verify(dir, nil)
		require.NoError(t, err)
		require.True(t, res.Intact(), "without a key the signature is optional")
	})
	t.Run("missing manifest", func(t *testing.T) {
		dir := fresh(t, export.CSV)
		require.NoError(t, os.Remove(filepath.Join(dir, export.ManifestName)))
		// No manifest: an incomplete export (an error), not tampering.
		_, err := export.Verify(dir, nil)
		require.ErrorIs(t, err, export.ErrIncomplete)
	})
	t.Run("unreadable directory is an error", func(t *testing.T) {
		_, err := export.Verify(filepath.Join(dir, "nope"), nil)
		require.Error(t, err)
	})
}

// removeLine deletes the n-th line (1-based) of the file at path.
func removeLine(t *testing.T, path string, n int) {
	t.Helper()
	fh, err := os.Open(path)
	require.NoError(t, err)
	var out bytes.Buffer
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 1; sc.Scan(); i++ {
		if i != n {
			out.Write(sc.Bytes())
			out.WriteByte('\n')
		}
	}
	require.NoError(t, sc.Err())
	require.NoError(t, fh.Close())
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
}

// TestJSONLRowsReencodeToSealLeaves: every exported JSON Lines row, read
// back and encoded with internal/canon, gives the same leaf as the row read
// from the database, so exports can be checked against seal roots.
func TestJSONLRowsReencodeToSealLeaves(t *testing.T) {
	t.Parallel()
	d := setup(t)
	ctx := context.Background()
	opts := d.options(t, export.JSONL)
	m, err := export.Export(ctx, d.pool, opts)
	require.NoError(t, err)
	for i, file := range m.Files {
		tbl := &canon.Tables[i]
		// Leaves from the database, keyed by id.
		want := map[int64][]byte{}
		rows, err := d.pool.Query(ctx, tbl.Select, 0, int64(1)<<62)
		require.NoError(t, err)
		for rows.Next() {
			vals, err := rows.Values()
			require.NoError(t, err)
			leaf, err := tbl.EncodeLeaf(vals)
			require.NoError(t, err)
			want[vals[0].(int64)] = leaf
		}
		require.NoError(t, rows.Err())

		b, err := os.ReadFile(filepath.Join(opts.Dir, file.Name))
		require.NoError(t, err)
		sc := bufio.NewScanner(bytes.NewReader(b))
		n := 0
		for sc.Scan() {
			var obj map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(sc.Bytes(), &obj))
			vals := make([]any, len(tbl.Columns))
			for j, c := range tbl.Columns {
				raw := obj[c.Name]
				if string(raw) == "null" {
					continue
				}
				switch c.Type {
				case canon.Int8:
					var v int64
					require.NoError(t, json.Unmarshal(raw, &v))
					vals[j] = v
				case canon.Bool:
					var v bool
					require.NoError(t, json.Unmarshal(raw, &v))
					vals[j] = v
				case canon.UUID:
					var s string
					require.NoError(t, json.Unmarshal(raw, &s))
					vals[j] = uuid.MustParse(s)
				case canon.Timestamptz:
					var s string
					require.NoError(t, json.Unmarshal(raw, &s))
					ts, err := time.Parse(time.RFC3339Nano, s)
					require.NoError(t, err)
					vals[j] = ts
				case canon.Text:
					var s string
					require.NoError(t, json.Unmarshal(raw, &s))
					vals[j] = s
				case canon.JSONB:
					vals[j] = string(raw)
				}
			}
			leaf, err := tbl.EncodeLeaf(vals)
			require.NoError(t, err)
			id := vals[0].(int64)
			require.Equal(t, want[id], leaf, "%s row %d", file.Name, id)
			n++
		}
		require.EqualValues(t, file.Rows, n)
	}
}

// requireProblems verifies dir (with key, when not nil) and requires every
// want among the problems, printed as verify-export prints them.
func requireProblems(t *testing.T, dir string, key ed25519.PublicKey, want ...string) *export.Result {
	t.Helper()
	res, err := export.Verify(dir, key)
	require.NoError(t, err)
	require.False(t, res.Intact())
	var all []string
	for _, p := range res.Problems {
		all = append(all, p.String())
	}
	joined := strings.Join(all, "\n")
	for _, w := range want {
		require.Contains(t, joined, w)
	}
	return res
}
