package main

import (
	"context"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// expectOne declares one expectation (a row in rac.expectations) and waits
// until it is final.
func expectOne(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `SELECT rac.expect(gen_random_uuid(), 'incidents', 'create_incident', interval '1 hour')`)
	require.NoError(t, err)
	pgtest.WaitFinal(t, pool)
}

// superTamper runs stmt with the triggers (and foreign keys) off, as a
// superuser who wants to leave no trace would.
func superTamper(t *testing.T, pool *pgxpool.Pool, stmt string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, stmt)
		return err
	}))
}

func appliedMigrations(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT count(*) FROM rac_goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&n))
	return n
}

func TestMigrateDownRefusesEvidence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("an empty ledger", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDatabase(t)
		pool := newPool(t, db.URL)
		before := appliedMigrations(t, pool)
		res := rac(ctx, dbEnv(db.URL), "migrate", "down")
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Contains(t, res.stdout, "reversed 1 migration")
		require.Equal(t, before-1, appliedMigrations(t, pool))
	})

	t.Run("a ledger with rows", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDatabase(t)
		pool := newPool(t, db.URL)
		expectOne(t, pool)
		before := appliedMigrations(t, pool)
		for _, args := range [][]string{{"migrate", "down"}, {"migrate", "--database-url", db.URL, "down"}} {
			res := rac(ctx, dbEnv(db.URL), args...)
			require.Equal(t, exitError, res.code, "%v: %s", args, res.stderr)
			require.Contains(t, res.stderr, "--destroy-evidence")
			require.Contains(t, res.stderr, "rac.expectations")
			require.Equal(t, before, appliedMigrations(t, pool), "nothing reversed")
		}
		res := rac(ctx, dbEnv(db.URL), "migrate", "down", "--destroy-evidence")
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Contains(t, res.stdout, "reversed 1 migration")
		require.Equal(t, before-1, appliedMigrations(t, pool))
		res = rac(ctx, dbEnv(db.URL), "migrate", "--destroy-evidence", "down")
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Equal(t, before-2, appliedMigrations(t, pool))
	})

	t.Run("a ledger with seals but no rows", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDatabase(t)
		pool := newPool(t, db.URL)
		expectOne(t, pool)
		res := rac(ctx, dbEnv(db.URL), "seal")
		require.Equal(t, exitOK, res.code, res.stderr)
		superTamper(t, pool, `DELETE FROM rac.expectations`)
		before := appliedMigrations(t, pool)
		res = rac(ctx, dbEnv(db.URL), "migrate", "down")
		require.Equal(t, exitError, res.code, res.stderr)
		require.Contains(t, res.stderr, "rac.seals")
		require.NotContains(t, res.stderr, "rac.expectations")
		require.Contains(t, res.stderr, "--destroy-evidence")
		require.Equal(t, before, appliedMigrations(t, pool))
	})
}

func TestVerifyUnsealedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	env := dbEnv(db.URL)

	res := rac(ctx, env, "verify")
	require.Equal(t, exitOK, res.code, res.stderr+res.stdout)
	require.Contains(t, res.stdout, "intact: no seals, no rows")

	expectOne(t, pool)
	res = rac(ctx, env, "verify")
	require.Equal(t, exitTampered, res.code, res.stderr+res.stdout)
	require.NotContains(t, res.stdout, "intact")
	require.Contains(t, res.stdout, "UNSEALED: no seals, but the ledger holds 1 rows (expectations 1)")

	res = rac(ctx, env, "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	res = rac(ctx, env, "verify")
	require.Equal(t, exitOK, res.code, res.stderr+res.stdout)
	require.Contains(t, res.stdout, "intact: 1 seals, 1 rows")
	require.NotContains(t, res.stdout, "unsealed")

	expectOne(t, pool)
	expectOne(t, pool)
	res = rac(ctx, env, "verify")
	require.Equal(t, exitOK, res.code, res.stderr+res.stdout)
	require.Contains(t, res.stdout, "intact: 1 seals, 1 rows")
	require.Regexp(t, `(?m)^unsealed: 2 rows \(expectations 2\) written at or after horizon \d+, seal 1's end`, res.stdout)

	// Every seal deleted: the rows stand unvouched for.
	superTamper(t, pool, `DELETE FROM rac.seal_chunks; DELETE FROM rac.seals`)
	res = rac(ctx, env, "verify")
	require.Equal(t, exitTampered, res.code, res.stderr+res.stdout)
	require.NotContains(t, res.stdout, "intact")
	require.Contains(t, res.stdout, "UNSEALED: no seals, but the ledger holds 3 rows")
}

func TestSealRefusesTamperedHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	env := dbEnv(db.URL)

	expectOne(t, pool)
	res := rac(ctx, env, "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "seal 1 head ")

	superTamper(t, pool, `UPDATE rac.expectations SET declared_by = 'forged'`)
	expectOne(t, pool)
	res = rac(ctx, env, "seal")
	require.Equal(t, exitError, res.code, res.stderr)
	require.Empty(t, res.stdout, "no head printed")
	require.Contains(t, res.stderr, "the head of the chain does not verify; refusing to extend it")
	require.Contains(t, res.stderr, "seal 1: edited in expectations")
	var seals int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rac.seals`).Scan(&seals))
	require.Equal(t, 1, seals, "the tampered chain was not extended")

	res = rac(ctx, env, "verify")
	require.Equal(t, exitTampered, res.code, res.stderr+res.stdout)
}

// metricRE returns a regexp matching the exposition line of series and
// capturing its value.
func metricRE(series string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
}

func TestServeVerifyEvery(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := newPool(t, db.URL)
	expectOne(t, pool)

	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--every", "1h", "--verify-every", "50ms"},
			&stdout, &stderr, func(k string) string { return dbEnv(db.URL)[k] })
	}()
	var addr string
	require.Eventually(t, func() bool {
		m := listeningRE.FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "no listening line on stderr: %s", &stderr)

	metric := func(series string) (float64, bool) {
		resp, err := http.Get("http://" + addr + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		m := metricRE(series).FindStringSubmatch(string(body))
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return v, true
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stderr:\n%s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// The first scrape already holds every series.
	for _, s := range []string{"rac_verify_last_intact", "rac_verify_last_timestamp_seconds", `rac_verify_total{result="tampered"}`,
		`rac_verify_total{result="intact"}`, `rac_verify_total{result="unsealed"}`, `rac_verify_total{result="error"}`} {
		_, ok := metric(s)
		require.True(t, ok, "%s exported", s)
	}
	start := float64(time.Now().Add(-time.Minute).Unix())
	waitFor("an intact verification", func() bool {
		intact, _ := metric("rac_verify_last_intact")
		n, _ := metric(`rac_verify_total{result="intact"}`)
		ts, _ := metric("rac_verify_last_timestamp_seconds")
		return intact == 1 && n >= 1 && ts > start
	})

	superTamper(t, pool, `UPDATE rac.expectations SET declared_by = 'forged'`)
	waitFor("a tampered verification", func() bool {
		intact, _ := metric("rac_verify_last_intact")
		n, _ := metric(`rac_verify_total{result="tampered"}`)
		return intact == 0 && n >= 1
	})
	require.Contains(t, stderr.String(), "verify: TAMPERED")

	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("rac serve did not stop after cancellation")
	}
}

func TestDemoRefusesPopulatedLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	expectOne(t, pool)
	count := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rac.expectations`).Scan(&n))
		return n
	}

	for _, c := range []struct {
		env  map[string]string
		args []string
	}{
		{env: nil, args: []string{"demo", "--runs", "10", "--database-url", db.URL}},
		{env: dbEnv(db.URL), args: []string{"demo", "--runs", "10"}},
	} {
		res := rac(ctx, c.env, c.args...)
		require.Equal(t, exitError, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
		require.Contains(t, res.stderr, "refusing to write into")
		require.Contains(t, res.stderr, "--into-existing-ledger")
		require.Equal(t, 1, count(), "the demo wrote nothing")
	}

	res := rac(ctx, nil, "demo", "--runs", "20", "--deadline", "1s", "--database-url", db.URL, "--into-existing-ledger")
	require.Equal(t, exitOK, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	require.Greater(t, count(), 1, "told explicitly, the demo writes")
}

// TestNoCommandPrintsPassword runs every command's -h, a usage error and,
// for the commands that connect, a connection that fails, with a password
// in DATABASE_URL and in --database-url; the password is never printed.
func TestNoCommandPrintsPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const secret = "s3cr3t-Pw"
	urls := []string{
		"postgres://alice:" + secret + "@127.0.0.1:1/ledger?sslmode=disable",
		"postgresql://alice:" + secret + "@127.0.0.1:1/ledger?connect_timeout=5",
		"postgres://alice@127.0.0.1:1/ledger?password=" + secret,
		"host=127.0.0.1 port=1 user=alice password=" + secret + " dbname=ledger",
		"host=127.0.0.1 port=1 user=alice password='" + secret + "' dbname=ledger",
		"postgres://alice:" + secret + "@127.0.0.1:notaport/ledger",
	}
	check := func(t *testing.T, what string, res result) {
		t.Helper()
		require.NotContains(t, res.stdout, secret, "%s: stdout", what)
		require.NotContains(t, res.stderr, secret, "%s: stderr", what)
	}
	for _, url := range urls {
		for _, c := range commands() {
			res := rac(ctx, dbEnv(url), c.name, "-h")
			require.Equal(t, exitOK, res.code, "%s -h: %s", c.name, res.stderr)
			check(t, c.name+" -h", res)
			if strings.Contains(res.stdout, "--database-url") && !strings.HasSuffix(url, "notaport/ledger") {
				require.Contains(t, res.stdout, "xxxxx", "%s -h shows the redacted default", c.name)
			}
			res = rac(ctx, dbEnv(url), c.name, "--no-such-flag")
			require.NotEqual(t, exitOK, res.code, c.name)
			check(t, c.name+" usage error", res)
			res = rac(ctx, nil, c.name, "--database-url", url, "--no-such-flag")
			require.NotEqual(t, exitOK, res.code, c.name)
			check(t, c.name+" --database-url usage error", res)
			res = rac(ctx, nil, c.name, "--database-url="+url, "--no-such-flag")
			check(t, c.name+" --database-url= usage error", res)
		}
		for _, args := range [][]string{
			{"migrate", "status"}, {"reconcile", "--once"}, {"seal"}, {"verify"},
			{"prove", "--table", "acks", "--id", "1"}, {"report"}, {"waive", "1", "--reason", "r", "--actor", "a"},
			{"export", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z", "--out", t.TempDir()},
			{"demo", "--runs", "1"},
		} {
			res := rac(ctx, dbEnv(url), args...)
			require.NotEqual(t, exitOK, res.code, "%v", args)
			require.NotEmpty(t, res.stderr, "%v", args)
			check(t, strings.Join(args, " ")+" failing to connect", res)
			res = rac(ctx, nil, append(args, "--database-url", url)...)
			require.NotEqual(t, exitOK, res.code, "%v", args)
			check(t, strings.Join(args, " ")+" --database-url failing to connect", res)
		}
		if strings.HasSuffix(url, "notaport/ledger") {
			continue // serve refuses it at once: covered by the usage errors above
		}
		// rac serve keeps running while the database is unreachable: its
		// retry logs must not show the password either.
		sctx, cancel := context.WithCancel(ctx)
		var stdout, stderr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(sctx, []string{"serve", "--listen", "127.0.0.1:0"}, &stdout, &stderr,
				func(k string) string { return dbEnv(url)[k] })
		}()
		require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "database unreachable") },
			30*time.Second, 10*time.Millisecond, "%s", &stderr)
		cancel()
		require.Equal(t, exitOK, <-done)
		check(t, "serve retrying", result{stdout: stdout.String(), stderr: stderr.String()})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                          "",
		"postgres://u:pw@h:5432/db": "postgres://u:xxxxx@h:5432/db",
		"postgres://u@h/db":         "postgres://u@h/db",
		"postgresql://u:p%40w@h/db?sslmode=require": "postgresql://u:xxxxx@h/db?sslmode=require",
		"postgres://u@h/db?password=pw":             "postgres://u@h/db?password=xxxxx",
		"host=h user=u password=pw dbname=db":       "host=h user=u password=xxxxx dbname=db",
		"host=h password='p w' dbname=db":           "host=h password=xxxxx dbname=db",
		"host=h dbname=db":                          "host=h dbname=db",
	} {
		require.Equal(t, want, redactURL(in), in)
	}
}

// TestNoPasswordWithARealLogin runs commands as a login role with a
// password, against the real database: what they print, log and write
// (an export's files and manifest) never holds the password.
func TestNoPasswordWithARealLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	expectOne(t, pool)
	roleURL, role := pgtest.LoginRole(t, db, "rac_reconciler", "rac_auditor")
	// The export reads the schema version.
	_, err := pool.Exec(ctx, "GRANT SELECT ON rac_goose_db_version TO "+pgx.Identifier{role}.Sanitize())
	require.NoError(t, err)
	u, err := neturl.Parse(roleURL)
	require.NoError(t, err)
	secret, ok := u.User.Password()
	require.True(t, ok)
	require.NotEmpty(t, secret)

	out := filepath.Join(t.TempDir(), "export")
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	var to string
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`).Scan(&to))
	for _, args := range [][]string{
		{"reconcile", "--once"}, {"seal"}, {"verify"}, {"report"}, {"migrate", "status"},
		{"export", "--from", from, "--to", to, "--out", out},
		{"waive", "999999", "--reason", "r", "--actor", "a"},
	} {
		for _, res := range []result{
			rac(ctx, dbEnv(roleURL), args...),
			rac(ctx, nil, append(args, "--database-url", roleURL)...),
		} {
			require.NotContains(t, res.stdout, secret, "%v", args)
			require.NotContains(t, res.stderr, secret, "%v", args)
		}
	}
	files, err := os.ReadDir(out)
	require.NoError(t, err, "the export ran")
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(out, f.Name()))
		require.NoError(t, err)
		require.NotContains(t, string(b), secret, f.Name())
	}
}
