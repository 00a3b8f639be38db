package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/export"
	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// TestExportAndVerifyExport drives the commands end to end: keygen, a
// signed export, verify-export intact, then tampered.
func TestExportAndVerifyExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	at := ledgertest.Now(t, pool).Add(-time.Hour)
	for range 3 {
		run := uuid.New()
		ledgertest.DeclareRun(t, pool, "default", run, at, time.Second)
		ledgertest.AckRun(t, pool, run, at.Add(time.Millisecond), ledger.FinalizeRun)
	}
	settle(t, pool)
	require.Equal(t, exitViolated, rac(ctx, dbEnv(db.URL), "reconcile", "--once").code)
	from := at.Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	to := ledgertest.Now(t, pool).UTC().Format(time.RFC3339Nano)

	dir := t.TempDir()
	key := filepath.Join(dir, "signer")
	res := rac(ctx, nil, "keygen", "--out", key)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, key+".pub")

	for _, format := range []string{"csv", "jsonl", "parquet"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, format)
			res := rac(ctx, dbEnv(db.URL), "export", "--from", from, "--to", to, "--format", format,
				"--out", out, "--sign-key", key+".key")
			require.Equal(t, exitOK, res.code, res.stderr)
			// 15 expectations, 12 acks, 6 findings (missing and stale per run), 3 verdicts, 1 reconciliation.
			require.Contains(t, res.stdout, "exported 37 rows")
			require.Contains(t, res.stderr, "export: acks 12 rows", "a progress line per table")

			res = rac(ctx, nil, "verify-export", out, "--pub-key", key+".pub")
			require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
			require.Contains(t, res.stdout, "intact")
			require.Contains(t, res.stdout, "signature verified")

			// Exporting into the same directory again needs --force.
			res = rac(ctx, dbEnv(db.URL), "export", "--from", from, "--to", to, "--format", format, "--out", out)
			require.Equal(t, exitError, res.code, res.stderr)
			require.Contains(t, res.stderr, "not empty")

			path := filepath.Join(out, "expectations."+format)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b[len(b)-len(b)/3] ^= 0x20
			require.NoError(t, os.WriteFile(path, b, 0o644))
			res = rac(ctx, nil, "verify-export", "--pub-key", key+".pub", out)
			require.Equal(t, exitTampered, res.code, res.stdout+res.stderr)
			require.Contains(t, res.stdout, "tampered: expectations."+format+": sha256")
		})
	}

	t.Run("removed line", func(t *testing.T) {
		out := filepath.Join(dir, "removed")
		res := rac(ctx, dbEnv(db.URL), "export", "--from", from, "--to", to, "--format", "csv", "--out", out)
		require.Equal(t, exitOK, res.code, res.stderr)
		path := filepath.Join(out, "acks.csv")
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		lines := strings.SplitAfter(string(b), "\n")
		require.NoError(t, os.WriteFile(path, []byte(strings.Join(append(lines[:2:2], lines[3:]...), "")), 0o644))
		res = rac(ctx, nil, "verify-export", out)
		require.Equal(t, exitTampered, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "tampered: acks.csv: 11 rows, manifest says 12")
		require.Contains(t, res.stdout, "tampered: acks.csv: sha256")
	})

	t.Run("signature required by --pub-key", func(t *testing.T) {
		res := rac(ctx, nil, "verify-export", filepath.Join(dir, "removed"), "--pub-key", key+".pub")
		require.Equal(t, exitTampered, res.code)
		require.Contains(t, res.stdout, "manifest.json.sig: missing")
	})

	t.Run("usage and errors", func(t *testing.T) {
		cases := []struct {
			args []string
			code int
		}{
			{[]string{"export", "--to", to, "--out", dir}, exitUsage},
			{[]string{"export", "--from", from, "--to", to}, exitUsage},
			{[]string{"export", "--from", "yesterday", "--to", to, "--out", dir}, exitUsage},
			{[]string{"export", "--from", to, "--to", from, "--out", dir}, exitUsage},
			{[]string{"export", "--from", from, "--to", to, "--out", dir, "--format", "xml"}, exitUsage},
			{[]string{"export", "--from", from, "--to", "2999-01-01", "--out", filepath.Join(dir, "future")}, exitError},
			{[]string{"export", "--from", from, "--to", to, "--out", filepath.Join(dir, "t"), "--tenant", "nobody"}, exitUsage},
			{[]string{"export", "--from", from, "--to", to, "--out", filepath.Join(dir, "k"), "--sign-key", key + ".pub"}, exitUsage},
			{[]string{"verify-export"}, exitUsage},
			{[]string{"verify-export", dir, "extra"}, exitUsage},
			{[]string{"verify-export", filepath.Join(dir, "csv"), "--pub-key", key + ".key"}, exitUsage},
			{[]string{"verify-export", filepath.Join(dir, "no-such-dir")}, exitError},
			{[]string{"keygen"}, exitUsage},
			{[]string{"keygen", "--out", key}, exitError}, // never overwrites a key
		}
		for _, c := range cases {
			res := rac(ctx, dbEnv(db.URL), c.args...)
			require.Equal(t, c.code, res.code, "%v\nstdout: %s\nstderr: %s", c.args, res.stdout, res.stderr)
		}
		_, err := os.Stat(filepath.Join(dir, "future", export.ManifestName))
		require.ErrorIs(t, err, os.ErrNotExist, "no manifest after a failed export")
	})

	t.Run("bad options are usage errors found before connecting", func(t *testing.T) {
		unreachable := dbEnv("postgres://rac@127.0.0.1:1/none?connect_timeout=1")
		for _, args := range [][]string{
			{"export", "--from", to, "--to", from, "--out", dir},
			{"export", "--from", from, "--to", to, "--out", dir, "--format", "xml"},
			{"export", "--from", from, "--to", to, "--out", dir, "--wait", "-1s"},
			{"export", "--seals", "3..1", "--out", dir},
		} {
			res := rac(ctx, unreachable, args...)
			require.Equal(t, exitUsage, res.code, "%v\nstdout: %s\nstderr: %s", args, res.stdout, res.stderr)
		}
	})
}

// TestExportSealRange: seals 1..N exported with --seals in every format
// verify with every seal checked; an edited row, with the manifest's
// checksums rewritten to match, is caught by the seal it belongs to; the
// flag's usage errors exit 2.
func TestExportSealRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	env := dbEnv(db.URL)
	at := ledgertest.Now(t, pool).Add(-time.Hour)
	run := uuid.New()
	ledgertest.DeclareRun(t, pool, "default", run, at, time.Second)
	ledgertest.AckRun(t, pool, run, at.Add(time.Millisecond), ledger.FinalizeRun)
	settle(t, pool)
	res := rac(ctx, env, "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, exitViolated, rac(ctx, env, "reconcile", "--once").code)
	ledgertest.Ack(t, pool, uuid.New(), ledger.Logs, ledger.StartTrace, "", at.Add(time.Second))
	settle(t, pool)
	res = rac(ctx, env, "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "seal 2 head ")

	dir := t.TempDir()
	for _, format := range []string{"csv", "jsonl", "parquet"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, format)
			res := rac(ctx, env, "export", "--seals", "1..2", "--format", format, "--out", out)
			require.Equal(t, exitOK, res.code, res.stderr)
			require.Contains(t, res.stdout, "seals: 2 listed (1..2), 2 complete; head seal 2 ")
			require.Contains(t, res.stdout, "; 0 rows unsealed")

			res = rac(ctx, nil, "verify-export", out)
			require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
			require.Contains(t, res.stdout, "seal 1: checked, ")
			require.Contains(t, res.stdout, "seal 2: checked, ")
			require.Contains(t, res.stdout, "2 of 2 listed seals checked against their Merkle roots")
		})
	}

	t.Run("anchored to a published head", func(t *testing.T) {
		out := filepath.Join(dir, "csv")
		var h1, h2 string
		require.NoError(t, pool.QueryRow(ctx, `SELECT encode(seal_hash, 'hex') FROM rac.seals WHERE id = 1`).Scan(&h1))
		require.NoError(t, pool.QueryRow(ctx, `SELECT encode(seal_hash, 'hex') FROM rac.seals WHERE id = 2`).Scan(&h2))

		res := rac(ctx, nil, "verify-export", out, "--head", h2)
		require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "is seal 2: seals 1..2 of this export are anchored to it")
		res = rac(ctx, nil, "verify-export", "--head", h2, out)
		require.Equal(t, exitOK, res.code, "the directory after the flags: "+res.stdout+res.stderr)
		require.Contains(t, res.stdout, "is seal 2: seals 1..2 of this export are anchored to it")
		res = rac(ctx, nil, "verify-export", out, "--head", strings.ToUpper(h1))
		require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "is seal 1: seals 1..1 of this export are anchored to it")

		res = rac(ctx, nil, "verify-export", out, "--head", strings.Repeat("ab", 32))
		require.Equal(t, exitTampered, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "is neither a listed seal nor the seal_head")
		res = rac(ctx, nil, "verify-export", out, "--head", "xyz")
		require.Equal(t, exitUsage, res.code, res.stdout+res.stderr)
	})

	t.Run("edited row with rewritten checksums", func(t *testing.T) {
		out := filepath.Join(dir, "jsonl")
		path := filepath.Join(out, "acks.jsonl")
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		b = []byte(strings.Replace(string(b), `"error":null`, `"error":"oops"`, 1))
		require.NoError(t, os.WriteFile(path, b, 0o644))
		mpath := filepath.Join(out, export.ManifestName)
		raw, err := os.ReadFile(mpath)
		require.NoError(t, err)
		m, err := export.ParseManifest(raw)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		m.Files[1].SHA256, m.Files[1].Bytes = hex.EncodeToString(sum[:]), int64(len(b))
		raw, err = m.Marshal()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(mpath, raw, 0o644))

		res := rac(ctx, nil, "verify-export", out)
		require.Equal(t, exitTampered, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "seal 1: checked, 9 rows: TAMPERED")
		require.Contains(t, res.stdout, "tampered: seal 1: the Merkle root of its 9 exported rows is ")
		require.NotContains(t, res.stdout, "tampered: acks.jsonl")
	})

	t.Run("time range lists the covering seals", func(t *testing.T) {
		out := filepath.Join(dir, "time")
		from := at.Add(-time.Minute).UTC().Format(time.RFC3339Nano)
		res := rac(ctx, env, "export", "--from", from, "--to", at.Add(time.Millisecond).UTC().Format(time.RFC3339Nano), "--out", out)
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Contains(t, res.stdout, "seals: 1 listed (1..1), 0 complete; head seal 2 ")
		res = rac(ctx, nil, "verify-export", out)
		require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "seal 1: not checked (the export holds 5 of ")
		require.Contains(t, res.stdout, "0 of 1 listed seals checked")
	})

	t.Run("usage errors", func(t *testing.T) {
		from := at.UTC().Format(time.RFC3339Nano)
		for _, args := range [][]string{
			{"--seals", "1..2", "--from", from},
			{"--seals", "1..2", "--to", from},
			{"--seals", "1..9"},
			{"--seals", "7"},
			{"--seals", "2..1"},
			{"--seals", "0..1"},
			{"--seals", "one..two"},
		} {
			out := filepath.Join(t.TempDir(), "x")
			res := rac(ctx, env, append([]string{"export", "--out", out}, args...)...)
			require.Equal(t, exitUsage, res.code, "%v\nstdout: %s\nstderr: %s", args, res.stdout, res.stderr)
			_, err := os.Stat(filepath.Join(out, export.ManifestName))
			require.ErrorIs(t, err, os.ErrNotExist)
		}
	})
}

// TestExportLarge measures `rac export` of RAC_BENCH_EXPORT_ROWS acks
// (e.g. 1000000) in every format, run as a subprocess: throughput and the
// child's peak RSS (getrusage Maxrss), logged, not asserted; then, after
// `rac seal`, a seal-range export (--seals 1..1) and its verify-export,
// which rebuilds the seal's Merkle root from the files. Skipped unless the
// variable is set:
//
//	RAC_BENCH_EXPORT_ROWS=1000000 go test -run TestExportLarge -v ./cmd/rac/
func TestExportLarge(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RAC_BENCH_EXPORT_ROWS"))
	if n <= 0 {
		t.Skip("set RAC_BENCH_EXPORT_ROWS=N to export N acks and measure")
	}
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "rac")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	start := time.Now()
	_, err := pool.Exec(ctx, `
		INSERT INTO rac.acks (run_id, action_id, acked_at, result_id, idempotency_key, metadata)
		SELECT gen_random_uuid(), 1 + g % 5, now() - interval '2 hours' + g * interval '1 microsecond',
		       'result-' || g, 'key-' || g, jsonb_build_object('n', g, 'source', 'bench')
		FROM generate_series(1, $1::int) AS g`, n)
	require.NoError(t, err)
	t.Logf("inserted %d acks in %s", n, time.Since(start).Round(time.Millisecond))
	from := ledgertest.Now(t, pool).Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	to := ledgertest.Now(t, pool).UTC().Format(time.RFC3339Nano)
	measureExports(t, bin, db.URL, n, "time range", "--from", from, "--to", to)

	settle(t, pool)
	seal := exec.Command(bin, "seal")
	seal.Env = append(os.Environ(), "DATABASE_URL="+db.URL)
	began := time.Now()
	outb, err := seal.CombinedOutput()
	require.NoError(t, err, string(outb))
	t.Logf("rac seal of %d acks in %s: %s", n, time.Since(began).Round(time.Millisecond), outb)
	measureExports(t, bin, db.URL, n, "seals 1..1", "--seals", "1..1")
}

// measureExports exports the n acks in every format with the range flags
// given, then verifies each export, logging time and peak RSS of both.
func measureExports(t *testing.T, bin, url string, n int, what string, rangeFlags ...string) {
	for _, format := range []string{"csv", "jsonl", "parquet"} {
		out := filepath.Join(t.TempDir(), format)
		cmd := exec.Command(bin, append(append([]string{"export"}, rangeFlags...), "--format", format, "--out", out)...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		began := time.Now()
		err := cmd.Run()
		elapsed := time.Since(began)
		require.NoError(t, err, stderr.String())
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		m, err := os.ReadFile(filepath.Join(out, export.ManifestName))
		require.NoError(t, err)
		man, err := export.ParseManifest(m)
		require.NoError(t, err)
		require.EqualValues(t, n, man.Files[1].Rows)
		t.Logf("%s: %-7s %d acks in %s: %.0f rows/s, %d MiB acks file, peak RSS %d MiB, %d seals listed",
			what, format, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
			man.Files[1].Bytes>>20, ru.Maxrss>>10, len(man.Seals))
		t.Logf("%s progress:\n%s", format, stderr.String())

		verify := exec.Command(bin, "verify-export", out)
		began = time.Now()
		outb, err := verify.CombinedOutput()
		velapsed := time.Since(began)
		require.NoError(t, err, string(outb))
		vru := verify.ProcessState.SysUsage().(*syscall.Rusage)
		t.Logf("%s: %-7s verify-export in %s: %.0f rows/s, peak RSS %d MiB:\n%s", what, format, velapsed.Round(time.Millisecond),
			float64(n)/velapsed.Seconds(), vru.Maxrss>>10, outb)
	}
}
