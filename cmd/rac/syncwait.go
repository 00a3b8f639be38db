package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultSyncWaitTimeout is the default of --sync-wait-timeout.
const defaultSyncWaitTimeout = time.Minute

// syncWaitPoll is how often a syncWaitGuard looks for stuck commits.
const syncWaitPoll = 250 * time.Millisecond

// syncWaitFlag registers --sync-wait-timeout on fs.
func syncWaitFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("sync-wait-timeout", defaultSyncWaitTimeout,
		"stop waiting for a synchronous standby after this long (and at once on SIGINT/SIGTERM): "+
			"the commit stays done on this server but unconfirmed by any standby, and the command fails saying so (0: wait forever)")
}

// syncWaitGuard bounds how long this process's commits wait for a
// synchronous standby (wait_event SyncRep). PostgreSQL writes a commit
// locally, then waits for the standbys named in synchronous_standby_names
// to confirm it; when none does (a standby stalled, or a promoted node
// kept its old primary's setting) the wait has no end, and the reconciler
// lets a batch's commit finish whatever its context says. The guard
// cancels such a wait (pg_cancel_backend: the commit returns with a
// warning, done locally) once it exceeds the timeout, or at once when the
// command's context ends (SIGINT/SIGTERM), and remembers that it did so
// the command can say why.
type syncWaitGuard struct {
	command string
	appName string
	timeout time.Duration
	logger  *slog.Logger

	mu        sync.Mutex
	cancelled int
	reason    string
	settings  string
}

// newSyncWaitGuard returns a guard for command; configure names the
// pool's sessions so that the guard finds them in pg_stat_activity.
func newSyncWaitGuard(command string, timeout time.Duration, logger *slog.Logger) *syncWaitGuard {
	return &syncWaitGuard{command: command, appName: fmt.Sprintf("%s [%d]", command, os.Getpid()), timeout: timeout, logger: logger}
}

// configure sets the pool's application_name to the guard's, and counts
// every commit whose wait for a synchronous standby was cancelled, from the
// server's own warning: whoever cancelled it (the guard's timeout, or pgx
// cancelling the statement when the command was interrupted, which can
// come first), the commit is done here but unconfirmed.
func (g *syncWaitGuard) configure(cfg *pgxpool.Config) {
	cfg.ConnConfig.RuntimeParams["application_name"] = g.appName
	next := cfg.ConnConfig.OnNotice
	cfg.ConnConfig.OnNotice = func(c *pgconn.PgConn, n *pgconn.Notice) {
		if strings.HasPrefix(n.Message, "canceling wait for synchronous replication") {
			g.mu.Lock()
			g.cancelled++
			if g.reason == "" {
				g.reason = "the command was interrupted"
			}
			g.mu.Unlock()
		}
		if next != nil {
			next(c, n)
		}
	}
}

// start watches pool's sessions until the returned stop is called. ctx is
// the command's context: when it ends, waits are cancelled at once.
func (g *syncWaitGuard) start(ctx context.Context, pool *pgxpool.Pool) (stop func()) {
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(syncWaitPoll)
		defer tick.Stop()
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				_ = conn.Close(context.Background())
			}
		}()
		for {
			select {
			case <-gctx.Done():
				return
			case <-tick.C:
			}
			if conn == nil {
				// A connection of its own: the pool's may all be busy
				// waiting.
				c, err := pool.Acquire(gctx)
				if err != nil {
					continue
				}
				conn, err = pgx.ConnectConfig(gctx, c.Conn().Config())
				c.Release()
				if err != nil {
					conn = nil
					continue
				}
			}
			if err := g.check(gctx, conn, ctx.Err() != nil); err != nil {
				_ = conn.Close(context.Background())
				conn = nil
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// check cancels the SyncRep waits of the guard's sessions that waited
// longer than the timeout, or every such wait when interrupted.
func (g *syncWaitGuard) check(ctx context.Context, conn *pgx.Conn, interrupted bool) error {
	limit := -1.0 // never
	switch {
	case interrupted:
		limit = 0
	case g.timeout > 0:
		limit = g.timeout.Seconds()
	}
	if limit < 0 {
		return nil
	}
	var n int
	var waited float64
	var names string
	err := conn.QueryRow(ctx, `
		WITH stuck AS (
		    SELECT pid, extract(epoch FROM clock_timestamp() - query_start)::float8 AS waited
		    FROM pg_stat_activity
		    WHERE application_name = $1 AND wait_event = 'SyncRep' AND pid <> pg_backend_pid()
		      AND extract(epoch FROM clock_timestamp() - query_start) >= $2
		)
		SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)), coalesce(max(waited), 0),
		       current_setting('synchronous_standby_names')
		FROM stuck`, g.appName, limit).Scan(&n, &waited, &names)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	reason := fmt.Sprintf("it waited %s, past --sync-wait-timeout %s", time.Duration(waited*float64(time.Second)).Round(time.Millisecond), g.timeout)
	if interrupted {
		reason = "the command was interrupted"
	}
	// The cancelled commits are counted from the server's warning
	// (configure); here only why, and the setting that made them wait.
	g.mu.Lock()
	g.reason, g.settings = reason, names
	g.mu.Unlock()
	g.logger.WarnContext(ctx, "rac: cancelled a commit's wait for a synchronous standby; the commit is done on this server only",
		slog.String("reason", reason), slog.String("synchronous_standby_names", names))
	return nil
}

// err returns nil when the guard cancelled nothing, else an error saying
// what happened and what to do.
func (g *syncWaitGuard) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cancelled == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d commit(s) waited for a synchronous standby (synchronous_standby_names = %q) that never confirmed them; "+
		"the wait was cancelled because %s: they are committed on this server but not confirmed by any standby, "+
		"and are lost if this server fails before a standby receives them. Check pg_stat_replication; on a promoted node that "+
		"kept its old primary's setting, run ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf() or start a standby",
		g.command, g.cancelled, g.settings, g.reason)
}

// checkSyncStandbys returns an error when every commit on pool's server
// would wait forever: synchronous_standby_names is set (and the session's
// synchronous_commit waits for standbys) but no walsender serves a
// synchronous standby. A session that may not see pg_stat_replication's
// details (neither superuser nor in pg_read_all_stats) cannot tell; it
// passes as long as some standby is connected.
func checkSyncStandbys(ctx context.Context, pool *pgxpool.Pool, command string) error {
	var names string
	var waits bool
	var connected, syncing, hidden int
	err := pool.QueryRow(ctx, `
		SELECT current_setting('synchronous_standby_names'),
		       current_setting('synchronous_commit') IN ('on', 'remote_write', 'remote_apply'),
		       (SELECT count(*) FROM pg_stat_replication),
		       (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')),
		       (SELECT count(*) FROM pg_stat_replication WHERE sync_state IS NULL)`).Scan(&names, &waits, &connected, &syncing, &hidden)
	if err != nil {
		return fmt.Errorf("%s: read the replication settings: %w", command, err)
	}
	if names == "" || !waits || syncing > 0 || hidden > 0 {
		return nil
	}
	return fmt.Errorf("%s: every commit on this server waits for a synchronous standby (synchronous_standby_names = %q), "+
		"but none is connected (%d standbys stream, none synchronous): it would hang. A promoted standby that kept its old "+
		"primary's setting does this: run ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf(), or start a standby",
		command, names, connected)
}
