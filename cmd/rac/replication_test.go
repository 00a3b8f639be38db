package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pglocal"
	"github.com/racledger/racledger/ledger"
)

// The tests in this file run several local clusters (a primary and hot
// standbys built with pg_basebackup -R) from the PostgreSQL server
// binaries, crash the primary with SIGKILL under write load and promote a
// standby. They measure, and log, acknowledged commits, losses and
// failover times; they assert only outcomes, never durations.

// requireServerBinaries skips the test when the PostgreSQL server binaries
// are absent (tests then run against RAC_TEST_DATABASE_URL or a container,
// where no second cluster can be made).
func requireServerBinaries(t *testing.T) {
	t.Helper()
	if _, err := pglocal.FindBinaries(); errors.Is(err, pglocal.ErrNotInstalled) {
		t.Skip("replication tests need the PostgreSQL server binaries (initdb, postgres, pg_basebackup): " + err.Error())
	}
}

// replLogger logs pglocal's progress into the test log.
func replLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLogWriter{t}, nil))
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startPrimary starts a migrated primary that accepts standbys.
func startPrimary(t *testing.T, ctx context.Context) *pglocal.Cluster {
	t.Helper()
	c, err := pglocal.Start(ctx, pglocal.Options{Settings: pglocal.PrimarySettings(), Logger: replLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	pool := newPool(t, c.URL("postgres"))
	require.NoError(t, migrate.Up(ctx, pool, nil))
	return c
}

// startStandby makes a hot standby of primary named name and waits until
// the primary streams to it.
func startStandby(t *testing.T, ctx context.Context, primary *pglocal.Cluster, name string) *pglocal.Cluster {
	t.Helper()
	started := time.Now()
	c, err := pglocal.StartStandby(ctx, primary, pglocal.StandbyOptions{ApplicationName: name})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	pool := newPool(t, primary.URL("postgres"))
	waitFor(t, time.Minute, "standby "+name+" streaming", func() bool {
		var n int
		err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'", name).Scan(&n)
		return err == nil && n == 1
	})
	t.Logf("standby %s streaming %s after pg_basebackup started", name, time.Since(started).Round(time.Millisecond))
	return c
}

// waitFor polls cond every 10ms until it holds, failing the test after
// limit (a bound on a hang, not a timed assertion).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeLoad is a set of writers that each commit, in a loop, one
// transaction declaring a standard run (five expectations) and
// acknowledging one of its actions. A commit is acknowledged when COMMIT
// returned without error: that is the promise failover must keep.
type writeLoad struct {
	mu    sync.Mutex
	acked []uuid.UUID
	// failed counts transactions that returned an error (the crash).
	failed int
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

func startLoad(ctx context.Context, pool *pgxpool.Pool, workers int) *writeLoad {
	ctx, cancel := context.WithCancel(ctx)
	w := &writeLoad{cancel: cancel}
	l := newLedger()
	for range workers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for ctx.Err() == nil {
				run := uuid.New()
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					if err := l.Expect(ctx, tx, run, ledger.StandardRun(time.Hour)...); err != nil {
						return err
					}
					return l.Ack(ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents,
						Action: ledger.CreateIncident, ResultID: "inc-" + run.String(), IdempotencyKey: run.String()})
				})
				w.mu.Lock()
				if err == nil {
					w.acked = append(w.acked, run)
				} else {
					w.failed++
				}
				w.mu.Unlock()
				if err != nil {
					return // the primary is gone
				}
			}
		}()
	}
	return w
}

// count returns the number of acknowledged commits so far.
func (w *writeLoad) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// stop ends the load and returns the acknowledged runs.
func (w *writeLoad) stop() []uuid.UUID {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slicesClone(w.acked)
}

func slicesClone(s []uuid.UUID) []uuid.UUID { return append([]uuid.UUID(nil), s...) }

// surviving counts, on pool, the acknowledged runs whose five expectations
// and ack are all there.
func surviving(t *testing.T, ctx context.Context, pool *pgxpool.Pool, runs []uuid.UUID) (exps, acks int) {
	t.Helper()
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM rac.expectations WHERE run_id = ANY($1)", runs).Scan(&exps))
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM rac.acks WHERE run_id = ANY($1)", runs).Scan(&acks))
	return exps, acks
}

var sealHeadRE = regexp.MustCompile(`(?m)^seal (\d+) head ([0-9a-f]{64})$`)

// sealHead runs rac seal against url and returns the printed head's hash.
func sealHead(t *testing.T, ctx context.Context, url string) (id, hash string) {
	t.Helper()
	res := rac(ctx, dbEnv(url), "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	m := sealHeadRE.FindStringSubmatch(res.stdout)
	require.NotNil(t, m, "rac seal printed no head: %q %q", res.stdout, res.stderr)
	return m[1], m[2]
}

// waitReplayed waits until standby has replayed everything primary has
// written so far.
func waitReplayed(t *testing.T, ctx context.Context, primary, standby *pgxpool.Pool) {
	t.Helper()
	var lsn string
	require.NoError(t, primary.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn))
	waitFor(t, time.Minute, "standby replay past "+lsn, func() bool {
		var ok bool
		err := standby.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&ok)
		return err == nil && ok
	})
}

// maxTxID is the largest tx_id of any ledger row.
func maxTxID(t *testing.T, ctx context.Context, pool *pgxpool.Pool) int64 {
	t.Helper()
	var m int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT greatest(
	    (SELECT max(tx_id) FROM rac.expectations), (SELECT max(tx_id) FROM rac.acks),
	    (SELECT max(tx_id) FROM rac.findings), (SELECT max(tx_id) FROM rac.finding_resolutions),
	    (SELECT max(tx_id) FROM rac.run_verdicts), (SELECT max(tx_id) FROM rac.reconciliations), 0)`).Scan(&m))
	return m
}

// failover crashes primary and promotes standby; it returns how long the
// ledger could not be written (crash to the first commit on the promoted
// node).
func failover(t *testing.T, ctx context.Context, primary, standby *pglocal.Cluster) time.Duration {
	t.Helper()
	crashed := time.Now()
	require.NoError(t, primary.Crash())
	require.NoError(t, standby.Promote(ctx, time.Minute))
	pool := newPool(t, standby.URL("postgres"))
	run := uuid.New()
	require.NoError(t, newLedger().Expect(ctx, pool, run, ledger.StandardRun(time.Hour)...))
	return time.Since(crashed)
}

// TestReplicationSynchronousFailover crashes a primary whose standby is
// synchronous, under write load, and promotes the standby: every
// acknowledged expectation and ack is on it, its transaction ids continue
// above every stored tx_id, the reconciler and sealer carry on, and the
// head published before the crash verifies.
func TestReplicationSynchronousFailover(t *testing.T) {
	requireServerBinaries(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	primary := startPrimary(t, ctx)
	standby := startStandby(t, ctx, primary, "standby1")
	require.NoError(t, primary.SetSynchronousStandbys(ctx, "standby1"))
	ppool := newPool(t, primary.URL("postgres"))
	waitFor(t, time.Minute, "standby1 synchronous", func() bool {
		var state string
		err := ppool.QueryRow(ctx, "SELECT coalesce((SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'), '')").Scan(&state)
		return err == nil && state == "sync"
	})
	purl := primary.URL("postgres")

	load := startLoad(ctx, ppool, 4)
	waitFor(t, time.Minute, "300 acknowledged commits", func() bool { return load.count() >= 300 })
	res := rac(ctx, dbEnv(purl), "reconcile", "--once")
	require.Contains(t, []int{exitOK, exitViolated}, res.code, res.stderr)
	headID, head := sealHead(t, ctx, purl)
	before := load.count()
	waitFor(t, time.Minute, "1000 more acknowledged commits", func() bool { return load.count() >= before+1000 })

	took := failover(t, ctx, primary, standby)
	acked := load.stop()
	spool := newPool(t, standby.URL("postgres"))
	exps, acks := surviving(t, ctx, spool, acked)
	t.Logf("synchronous failover: %d acknowledged commits (%d expectations, %d acks), %d expectations and %d acks on the promoted node, %d transactions failed at the crash; crash to first commit on the promoted node %s; head published before the crash: seal %s",
		len(acked), 5*len(acked), len(acked), exps, acks, load.failed, took.Round(time.Millisecond), headID)
	require.Equal(t, 5*len(acked), exps, "every acknowledged expectation survives")
	require.Equal(t, len(acked), acks, "every acknowledged ack survives")

	var next int64
	require.NoError(t, spool.QueryRow(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&next))
	require.Greater(t, next, maxTxID(t, ctx, spool), "the promoted node's transaction ids continue above every stored tx_id")

	surl := standby.URL("postgres")
	res = rac(ctx, dbEnv(surl), "reconcile", "--once")
	require.Contains(t, []int{exitOK, exitViolated}, res.code, res.stderr)
	settle(t, spool)
	_, _ = sealHead(t, ctx, surl)
	res = rac(ctx, dbEnv(surl), "verify", "--head", head)
	require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stdout, "published head found at seal "+headID)
}

// TestReplicationAsynchronousFailoverIsDetected stalls an asynchronous
// standby, keeps writing and sealing on the primary, crashes it and
// promotes the standby: acknowledged commits and the last published head
// are lost. rac verify --head reports that head as lost in a failover
// (rolled back, exit 6), not as tampering, while the head published before
// the stall still verifies; on the old primary, which was never promoted,
// a head missing from the chain is tampering.
func TestReplicationAsynchronousFailoverIsDetected(t *testing.T) {
	requireServerBinaries(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	primary := startPrimary(t, ctx)
	standby := startStandby(t, ctx, primary, "standby1")
	purl, surl := primary.URL("postgres"), standby.URL("postgres")
	ppool, spool := newPool(t, purl), newPool(t, surl)

	load := startLoad(ctx, ppool, 4)
	waitFor(t, time.Minute, "300 acknowledged commits", func() bool { return load.count() >= 300 })
	_, head1 := sealHead(t, ctx, purl)
	waitReplayed(t, ctx, ppool, spool)

	// The standby stalls: its WAL receiver stops (a network partition or
	// an overloaded standby looks the same to the primary).
	_, err := spool.Exec(ctx, "ALTER SYSTEM SET primary_conninfo = ''")
	require.NoError(t, err)
	_, err = spool.Exec(ctx, "SELECT pg_reload_conf()")
	require.NoError(t, err)
	waitFor(t, time.Minute, "the standby's WAL receiver to stop", func() bool {
		var n int
		err := ppool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication").Scan(&n)
		return err == nil && n == 0
	})
	stalled := load.count()
	waitFor(t, time.Minute, "1000 more acknowledged commits", func() bool { return load.count() >= stalled+1000 })
	head2ID, head2 := sealHead(t, ctx, purl)

	// On a cluster never promoted, a published head missing from the
	// chain is tampering.
	res := rac(ctx, dbEnv(purl), "verify", "--head", strings.Repeat("ab", 32))
	require.Equal(t, exitTampered, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stdout, "TAMPERED")

	var maxAckID int64
	require.NoError(t, ppool.QueryRow(ctx, "SELECT max(id) FROM rac.acks").Scan(&maxAckID))
	took := failover(t, ctx, primary, standby)
	acked := load.stop()
	exps, acks := surviving(t, ctx, spool, acked)
	var promotedMaxAckID int64
	require.NoError(t, spool.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM rac.acks").Scan(&promotedMaxAckID))
	t.Logf("asynchronous failover: %d acknowledged commits, %d lost (%d of %d acks and %d of %d expectations survive); ack ids went back from %d to %d; crash to first commit on the promoted node %s; lost head: seal %s",
		len(acked), len(acked)-acks, acks, len(acked), exps, 5*len(acked), maxAckID, promotedMaxAckID, took.Round(time.Millisecond), head2ID)
	require.Less(t, acks, len(acked), "acknowledged acks were lost")
	require.Less(t, promotedMaxAckID, maxAckID, "ack ids went backwards")

	for _, format := range []string{"text", "json"} {
		res = rac(ctx, dbEnv(surl), "verify", "--head", head2, "--format", format)
		require.Equal(t, exitRolledBack, res.code, res.stdout+res.stderr)
		require.NotContains(t, res.stdout, "TAMPERED")
		require.NotContains(t, res.stdout, `"tampered"`)
		if format == "text" {
			require.Contains(t, res.stdout, "ROLLED BACK: ")
			require.Contains(t, res.stdout, "timeline 2")
		} else {
			require.Contains(t, res.stdout, `"verdict": "rolled-back"`)
		}
	}
	res = rac(ctx, dbEnv(surl), "verify", "--head", head1)
	require.Equal(t, exitOK, res.code, "the head published before the stall verifies: "+res.stdout+res.stderr)

	// A login that is not a superuser (a member of rac_reconciler) gets
	// the same verdict: the timeline is readable without privileges.
	_, err = spool.Exec(ctx, "CREATE ROLE repl_verifier LOGIN IN ROLE rac_reconciler")
	require.NoError(t, err)
	verifierURL := strings.Replace(surl, "postgres://postgres@", "postgres://repl_verifier@", 1)
	require.NotEqual(t, surl, verifierURL)
	res = rac(ctx, dbEnv(verifierURL), "verify", "--head", head2)
	require.Equal(t, exitRolledBack, res.code, res.stdout+res.stderr)

	// The chain continues (forks) on the promoted node; the lost head
	// stays reported as rolled back.
	settle(t, spool)
	newID, newHead := sealHead(t, ctx, surl)
	t.Logf("asynchronous failover: the promoted node sealed seal %s %s after losing seal %s %s", newID, newHead, head2ID, head2)
	res = rac(ctx, dbEnv(surl), "verify", "--head", head2)
	require.Equal(t, exitRolledBack, res.code, res.stdout+res.stderr)
}

// TestReplicationStandbyCommands runs every command against a hot standby:
// the ones that write say plainly that they are connected to a standby,
// rac serve is not ready there, the read-only ones work, and rac report
// says how current the standby's data is (replay lag, paused replay).
func TestReplicationStandbyCommands(t *testing.T) {
	requireServerBinaries(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	primary := startPrimary(t, ctx)
	standby := startStandby(t, ctx, primary, "standby1")
	purl, surl := primary.URL("postgres"), standby.URL("postgres")
	ppool, spool := newPool(t, purl), newPool(t, surl)
	load := startLoad(ctx, ppool, 2)
	waitFor(t, time.Minute, "100 acknowledged commits", func() bool { return load.count() >= 100 })
	load.stop()
	res := rac(ctx, dbEnv(purl), "reconcile", "--once")
	require.Contains(t, []int{exitOK, exitViolated}, res.code, res.stderr)
	settle(t, ppool)
	_, head := sealHead(t, ctx, purl)
	waitReplayed(t, ctx, ppool, spool)
	env := dbEnv(surl)

	for _, args := range [][]string{
		{"reconcile", "--once"},
		{"seal"},
		{"waive", "1", "--reason", "r", "--actor", "a"},
		{"migrate", "up"},
		{"migrate", "down"},
	} {
		res := rac(ctx, env, args...)
		require.Equal(t, exitError, res.code, "%v: %s%s", args, res.stdout, res.stderr)
		require.Contains(t, res.stderr, "rac "+strings.Join(args[:1], "")+"", args)
		require.Contains(t, res.stderr, "connected to a standby", args)
		require.NotContains(t, res.stderr, "read-only transaction", args)
	}

	res = rac(ctx, env, "verify", "--head", head)
	require.Equal(t, exitOK, res.code, res.stdout+res.stderr)

	// Exports: a time range is refused on a standby (it cannot see the
	// primary's open transactions); sealed rows export there, and the
	// files are byte-identical to a re-export and to the primary's.
	res = rac(ctx, env, "export", "--from", "1h", "--to", "now", "--out", t.TempDir())
	require.Equal(t, exitUsage, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stderr, "connected to a standby")
	require.Contains(t, res.stderr, "--seals")
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for i, dir := range dirs {
		e := env
		if i == 2 {
			e = dbEnv(purl)
		}
		res := rac(ctx, e, "export", "--seals", "1", "--out", dir, "--format", "jsonl")
		require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
	}
	first := exportFiles(t, dirs[0])
	require.NotEmpty(t, first)
	require.Equal(t, first, exportFiles(t, dirs[1]), "a re-export on the standby is byte-identical")
	require.Equal(t, first, exportFiles(t, dirs[2]), "the primary's export is byte-identical")

	// An auditor on the standby: a login in rac_auditor that sees every
	// tenant verifies, proves and exports from the audit views, with the
	// superuser's results.
	_, err := ppool.Exec(ctx, `CREATE ROLE standby_auditor LOGIN IN ROLE rac_auditor;
		INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ('standby_auditor', NULL)`)
	require.NoError(t, err)
	waitReplayed(t, ctx, ppool, spool)
	aurl, err := url.Parse(surl)
	require.NoError(t, err)
	aurl.User = url.User("standby_auditor")
	auditor := dbEnv(aurl.String())
	code, want := verifyOutput(t, env)
	require.Equal(t, exitOK, code)
	code, got := verifyOutput(t, auditor)
	require.Equal(t, exitOK, code)
	require.Equal(t, want, got)
	res = rac(ctx, auditor, "verify", "--head", head)
	require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
	proofs := []string{}
	for _, e := range []map[string]string{env, auditor} {
		res := rac(ctx, e, "prove", "--table", "acks", "--id", "1")
		require.Equal(t, exitOK, res.code, res.stderr)
		proofs = append(proofs, res.stdout)
	}
	require.Equal(t, proofs[0], proofs[1])
	adir := t.TempDir()
	res = rac(ctx, auditor, "export", "--seals", "1", "--out", adir, "--format", "jsonl")
	require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
	require.Equal(t, first, exportFiles(t, adir), "the auditor's export on the standby is byte-identical")

	res = rac(ctx, env, "report")
	require.Contains(t, []int{exitOK, exitViolated}, res.code, res.stderr)
	require.Contains(t, res.stdout, "STANDBY: this server is a standby; its data is as of ")
	require.Contains(t, res.stdout, "replay lag ")

	_, err = spool.Exec(ctx, "SELECT pg_wal_replay_pause()")
	require.NoError(t, err)
	waitFor(t, time.Minute, "replay paused", func() bool {
		var state string
		err := spool.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state)
		return err == nil && state == "paused"
	})
	res = rac(ctx, env, "report")
	require.Contains(t, res.stdout, "REPLAY IS PAUSED", res.stdout)
	res = rac(ctx, env, "report", "--format", "json")
	require.Contains(t, res.stdout, `"replay_paused": true`, res.stdout)
	require.Contains(t, res.stdout, `"replay_lag_seconds": `)
	t.Log(strings.SplitN(rac(ctx, env, "report").stdout, "\n", 3)[1])
	_, err = spool.Exec(ctx, "SELECT pg_wal_replay_resume()")
	require.NoError(t, err)

	// rac serve on a standby: alive, not ready, and it says why.
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--listen", "127.0.0.1:0", "--every", "1h"}, &stdout, &stderr,
			func(k string) string { return env[k] })
	}()
	var addr string
	waitFor(t, 30*time.Second, "rac serve listening", func() bool {
		m := listeningRE.FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	resp, err := http.Get("http://" + addr + "/readyz")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	require.Contains(t, string(body), "connected to a standby")
	scancel()
	<-done
}

// exportFiles returns the data files of an export directory by name (the
// manifest, which records when it was written, is left out).
func exportFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "manifest") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

// TestReplicationHungCommitIsBounded makes every commit wait for a
// synchronous standby that never confirms (its WAL receiver is stopped
// with SIGSTOP, so it stays connected): rac seal gives up after
// --sync-wait-timeout, rac reconcile --every stops when interrupted, and
// both say why. With synchronous_standby_names naming a standby that is
// not connected (a promoted node that kept its old primary's setting),
// the writing commands refuse at once.
func TestReplicationHungCommitIsBounded(t *testing.T) {
	requireServerBinaries(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	primary := startPrimary(t, ctx)
	standby := startStandby(t, ctx, primary, "standby1")
	require.NoError(t, primary.SetSynchronousStandbys(ctx, "standby1"))
	purl := primary.URL("postgres")
	ppool, spool := newPool(t, purl), newPool(t, standby.URL("postgres"))
	waitFor(t, time.Minute, "standby1 synchronous", func() bool {
		var state string
		err := ppool.QueryRow(ctx, "SELECT coalesce((SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'), '')").Scan(&state)
		return err == nil && state == "sync"
	})
	load := startLoad(ctx, ppool, 1)
	waitFor(t, time.Minute, "20 acknowledged commits", func() bool { return load.count() >= 20 })
	load.stop()
	settle(t, ppool)

	var receiver int
	require.NoError(t, spool.QueryRow(ctx, "SELECT pid FROM pg_stat_wal_receiver").Scan(&receiver))
	require.NoError(t, syscall.Kill(receiver, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(receiver, syscall.SIGCONT) })

	started := time.Now()
	res := rac(ctx, dbEnv(purl), "seal", "--sync-wait-timeout", "500ms")
	t.Logf("rac seal with a stalled synchronous standby returned after %s", time.Since(started).Round(time.Millisecond))
	require.Equal(t, exitError, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stderr, "waited for a synchronous standby")
	require.Contains(t, res.stderr, "past --sync-wait-timeout 500ms")
	require.Contains(t, res.stderr, "not safe to publish")

	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(rctx, []string{"reconcile", "--every", "1h", "--sync-wait-timeout", "0"}, &stdout, &stderr,
			func(k string) string { return dbEnv(purl)[k] })
	}()
	waitFor(t, time.Minute, "rac reconcile waiting for the standby", func() bool {
		var n int
		err := ppool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'rac reconcile%' AND wait_event = 'SyncRep'").Scan(&n)
		return err == nil && n > 0
	})
	interrupted := time.Now()
	rcancel() // what SIGTERM does
	var code int
	waitFor(t, time.Minute, "rac reconcile to stop after the interrupt", func() bool {
		select {
		case code = <-done:
			return true
		default:
			return false
		}
	})
	t.Logf("rac reconcile stuck in a synchronous commit stopped %s after the interrupt", time.Since(interrupted).Round(time.Millisecond))
	require.Equal(t, exitInterrupted, code, stderr.String())
	require.Contains(t, stderr.String(), "the wait was cancelled because the command was interrupted")

	require.NoError(t, syscall.Kill(receiver, syscall.SIGCONT))
	require.NoError(t, primary.SetSynchronousStandbys(ctx, "nobody"))
	waitFor(t, time.Minute, "the setting to load", func() bool {
		var v string
		err := ppool.QueryRow(ctx, "SELECT current_setting('synchronous_standby_names')").Scan(&v)
		return err == nil && v == "nobody"
	})
	for _, args := range [][]string{{"seal"}, {"reconcile", "--once"}, {"waive", "1", "--reason", "r", "--actor", "a"}} {
		res := rac(ctx, dbEnv(purl), args...)
		require.Equal(t, exitError, res.code, "%v: %s%s", args, res.stdout, res.stderr)
		require.Contains(t, res.stderr, "but none is connected", args)
	}
}

// TestReplicationServeFollowsFailover runs rac serve on a multi-host URL
// (target_session_attrs=read-write) over a primary and its synchronous
// standby, crashes the primary and promotes the standby: serve is not
// ready meanwhile and then, by itself, ready again and reconciling on the
// promoted node.
func TestReplicationServeFollowsFailover(t *testing.T) {
	requireServerBinaries(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	primary := startPrimary(t, ctx)
	standby := startStandby(t, ctx, primary, "standby1")
	require.NoError(t, primary.SetSynchronousStandbys(ctx, "standby1"))
	multi := "host=" + primary.Host() + "," + standby.Host() + " port=" + strconv.Itoa(primary.Port()) + "," +
		strconv.Itoa(standby.Port()) + " user=postgres dbname=postgres sslmode=disable target_session_attrs=read-write"

	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--listen", "127.0.0.1:0", "--every", "200ms", "--seal-every", "0", "--verify-every", "0"},
			&stdout, &stderr, func(k string) string { return dbEnv(multi)[k] })
	}()
	var addr string
	waitFor(t, 30*time.Second, "rac serve listening", func() bool {
		m := listeningRE.FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	passes := func() int {
		_, body := get("/metrics")
		m := regexp.MustCompile(`(?m)^rac_reconciliation_total\{status="ok"\} (\d+)$`).FindStringSubmatch(body)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	waitFor(t, time.Minute, "serve ready on the primary", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	waitFor(t, time.Minute, "a pass on the primary", func() bool { return passes() >= 1 })

	crashed := time.Now()
	require.NoError(t, primary.Crash())
	waitFor(t, time.Minute, "serve not ready", func() bool { code, _ := get("/readyz"); return code != http.StatusOK })
	require.NoError(t, standby.Promote(ctx, time.Minute))
	waitFor(t, time.Minute, "serve ready on the promoted node", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	ready := time.Since(crashed)
	before := passes()
	waitFor(t, time.Minute, "a pass on the promoted node", func() bool { return passes() > before })
	t.Logf("rac serve on a multi-host URL: ready again %s after the crash (promotion at once), reconciling on the promoted node",
		ready.Round(time.Millisecond))
	var n int
	require.NoError(t, newPool(t, standby.URL("postgres")).QueryRow(ctx, "SELECT count(*) FROM rac.reconciliations").Scan(&n))
	require.Positive(t, n)
	scancel()
	<-done
}
