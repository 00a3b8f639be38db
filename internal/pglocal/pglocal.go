// Package pglocal runs a PostgreSQL server from the locally installed
// binaries: a throwaway cluster in a temporary directory (tests) or a
// persistent one in a chosen data directory (an embedded database for
// `rac demo`).
//
// The server listens only on a Unix socket in a short, private temporary
// directory, trusts local connections for the postgres superuser, and runs
// with fsync=on and synchronous_commit=on so crash and durability behaviour
// is the real one. It is a direct child of this process (no pg_ctl) and, on
// Linux, receives SIGQUIT (immediate shutdown) if this process dies without
// calling Stop.
//
// When this process runs as root, PostgreSQL refuses to run; initdb and
// postgres are then started as the postgres user (or nobody), and the
// directories they need are handed to that user.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPort is the port number a Cluster uses unless Options.Port says
// otherwise. The server does not listen on TCP by default; the number only
// names the socket file (.s.PGSQL.5432), and the socket directory is unique
// to each cluster, so clusters never collide on it.
const DefaultPort = 5432

// Superuser is the superuser role initdb creates; local connections as this
// role are trusted (no password).
const Superuser = "postgres"

// DefaultStartTimeout bounds how long Start waits for the server to accept
// connections when Options.StartTimeout is zero.
const DefaultStartTimeout = 60 * time.Second

// Options configure Start. The zero value starts a throwaway cluster.
type Options struct {
	// DataDir is the cluster's data directory. Empty means a new cluster in
	// a temporary directory that Stop removes. Otherwise the directory is
	// reused if it already holds a cluster (it has a PG_VERSION file),
	// initialized if it is missing or empty, and kept by Stop; the server
	// log is then appended to DataDir + ".log".
	DataDir string

	// Port numbers the server's socket file; DefaultPort when zero. The
	// server also listens on it over TCP only if Settings sets
	// listen_addresses.
	Port int

	// Settings are extra server settings (postgresql.conf names and
	// values), passed as -c name=value after the built-in ones, so they win.
	// The cluster trusts every connection (initdb --auth=trust): setting
	// listen_addresses lets anyone who can reach the port in as superuser.
	Settings map[string]string

	// BinDir, when set, is the only directory searched for initdb and
	// postgres; otherwise FindBinaries decides.
	BinDir string

	// StartTimeout bounds the wait for the server to accept connections;
	// DefaultStartTimeout when zero.
	StartTimeout time.Duration

	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running PostgreSQL server started by Start.
type Cluster struct {
	logger  *slog.Logger
	port    int
	dataDir string
	sockDir string
	logPath string
	// tempRoot holds the data directory and log of a throwaway cluster; it
	// is empty for a persistent one.
	tempRoot string

	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returns
	waitErr error         // cmd.Wait's result; read only after exited is closed

	stopOnce sync.Once
	stopErr  error
}

const (
	// ownerFile, inside a throwaway cluster's root, records the launching
	// process id and the socket directory so a later Start can remove
	// clusters whose launcher died without calling Stop.
	ownerFile  = "owner"
	tempPrefix = "racpg-"
	sockPrefix = "rac"
)

// Start initializes (if needed) and starts a cluster, and returns once the
// server accepts connections. On failure nothing is left running, temporary
// directories are removed, and the error includes the tail of the server log.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bins, err := findBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	ra, err := lookupRunAs()
	if err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		port = DefaultPort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("pglocal: invalid port %d", port)
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}

	c := &Cluster{logger: logger, port: port, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			c.kill()
			if rmErr := c.removeTempDirs(); rmErr != nil {
				logger.Warn("pglocal: cleanup after failed start", "err", rmErr)
			}
		}
	}()

	temp := opts.DataDir == ""
	if temp {
		removeStaleTempClusters(logger)
		if c.tempRoot, err = os.MkdirTemp("", tempPrefix); err != nil {
			return nil, fmt.Errorf("pglocal: temp dir: %w", err)
		}
		if err := ra.chown(c.tempRoot); err != nil {
			return nil, err
		}
		c.dataDir = filepath.Join(c.tempRoot, "data")
		c.logPath = filepath.Join(c.tempRoot, "postgres.log")
	} else {
		if c.dataDir, err = filepath.Abs(opts.DataDir); err != nil {
			return nil, fmt.Errorf("pglocal: data dir: %w", err)
		}
		if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("pglocal: data dir: %w", err)
		}
		if err := ra.ensureTraversable(c.dataDir, logger); err != nil {
			return nil, err
		}
		c.logPath = c.dataDir + ".log"
	}

	if c.sockDir, err = makeSocketDir(port); err != nil {
		return nil, err
	}
	if err := ra.chown(c.sockDir); err != nil {
		return nil, err
	}
	if temp {
		owner := fmt.Sprintf("%d\n%s\n", os.Getpid(), c.sockDir)
		if err := os.WriteFile(filepath.Join(c.tempRoot, ownerFile), []byte(owner), 0o644); err != nil {
			return nil, fmt.Errorf("pglocal: %w", err)
		}
	}

	initialized, err := holdsCluster(c.dataDir)
	if err != nil {
		return nil, err
	}
	if initialized {
		logger.Info("pglocal: reusing cluster", "data_dir", c.dataDir)
		if err := ra.chownTree(c.dataDir); err != nil {
			return nil, err
		}
	} else {
		if !temp {
			if err := ra.chown(c.dataDir); err != nil {
				return nil, err
			}
		}
		if err := initdb(ctx, bins.Initdb, c.dataDir, temp, ra, logger); err != nil {
			return nil, err
		}
	}

	logStart, err := c.startServer(bins.Postgres, opts.Settings, ra)
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, timeout); err != nil {
		return nil, fmt.Errorf("pglocal: start postgres: %w%s", err, c.logTail(logStart))
	}
	logger.Info("pglocal: cluster ready", "data_dir", c.dataDir, "socket_dir", c.sockDir,
		"port", c.port, "log", c.logPath)
	return c, nil
}

func findBinaries(binDir string) (Binaries, error) {
	if binDir != "" {
		return BinariesIn(binDir)
	}
	return FindBinaries()
}

// makeSocketDir creates a private directory for the server's socket. Socket
// paths are limited to about 107 bytes, so it lives directly under the
// system temp directory (or /tmp if that path is long), never under the data
// directory.
func makeSocketDir(port int) (string, error) {
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, sockPrefix)
	if err != nil {
		return "", fmt.Errorf("pglocal: socket dir: %w", err)
	}
	socket := filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port)+".lock")
	if len(socket) > 100 {
		_ = os.Remove(dir)
		return "", fmt.Errorf("pglocal: socket path %s is too long for a Unix socket; set TMPDIR to a short directory", socket)
	}
	return dir, nil
}

// holdsCluster reports whether dir already holds a cluster, and fails when
// it holds something else.
func holdsCluster(dir string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return true, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pglocal: data dir: %w", err)
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("pglocal: data dir %s is not empty but holds no PostgreSQL cluster (no PG_VERSION)", dir)
	}
	return false, nil
}

func initdb(ctx context.Context, initdbPath, dataDir string, temp bool, ra *runAs, logger *slog.Logger) error {
	args := []string{"-D", dataDir, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C"}
	if temp {
		// A throwaway cluster need not survive a power cut while it is being
		// created; the running server still uses fsync=on.
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, initdbPath, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = sysProcAttr(ra.credential(), syscall.SIGKILL)
	started := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pglocal: initdb: %w\n%s", err, tailLines(out, 40))
	}
	logger.Info("pglocal: initdb done", "data_dir", dataDir, "took", time.Since(started))
	return nil
}

// startServer launches postgres and returns the log offset where this run's
// output starts.
func (c *Cluster) startServer(postgresPath string, settings map[string]string, ra *runAs) (int64, error) {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return 0, fmt.Errorf("pglocal: server log: %w", err)
	}
	defer logFile.Close()
	if err := ra.chown(c.logPath); err != nil {
		return 0, err
	}
	var logStart int64
	if st, err := logFile.Stat(); err == nil {
		logStart = st.Size()
	}

	args := []string{
		"-D", c.dataDir,
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + c.sockDir,
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "max_connections=300",
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", name+"="+settings[name])
	}

	cmd := exec.Command(postgresPath, args...)
	cmd.Dir = "/"
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr(ra.credential(), syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		return logStart, fmt.Errorf("pglocal: start postgres: %w", err)
	}
	c.cmd = cmd
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return logStart, nil
}

// waitReady polls a connection until the server answers, it exits, or the
// timeout passes.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	poll := time.NewTicker(25 * time.Millisecond)
	defer poll.Stop()
	var lastErr error
	for {
		if lastErr = c.ping(ctx); lastErr == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during startup: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last connection error: %v)", ctx.Err(), lastErr)
		case <-poll.C:
		}
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(c.ConnString("postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = 2 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// ConnString returns a libpq key=value connection string for database as the
// superuser, usable by pgx and psql.
func (c *Cluster) ConnString(database string) string {
	return strings.Join([]string{
		kv("host", c.sockDir),
		kv("port", strconv.Itoa(c.port)),
		kv("user", Superuser),
		kv("dbname", database),
		kv("sslmode", "disable"),
	}, " ")
}

// URL returns a postgres:// URL for database as the superuser (the socket
// directory travels in the host query parameter), usable by pgx and psql.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.User(Superuser),
		Path:   "/" + database,
		RawQuery: "host=" + url.QueryEscape(c.sockDir) +
			"&port=" + strconv.Itoa(c.port) + "&sslmode=disable",
	}
	return u.String()
}

func kv(key, val string) string {
	if val == "" || strings.ContainsAny(val, " '\\\t\n") {
		val = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(val) + "'"
	}
	return key + "=" + val
}

// Host returns the directory holding the server's Unix socket, which is
// what libpq and pgx take as the host.
func (c *Cluster) Host() string { return c.sockDir }

// Port returns the server's port number.
func (c *Cluster) Port() int { return c.port }

// DataDir returns the cluster's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// LogFile returns the path of the server log.
func (c *Cluster) LogFile() string { return c.logPath }

// Done is closed when the server process has exited, whether through Stop
// or otherwise.
func (c *Cluster) Done() <-chan struct{} { return c.exited }

// Stop shuts the server down (fast shutdown: SIGINT; if it has not exited
// when ctx ends or after 30s, immediate shutdown with SIGQUIT, then SIGKILL)
// and removes the temporary directories: the socket directory always, the
// data directory only for a throwaway cluster. It is safe to call more than
// once and from several goroutines; later calls return the first result.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.stopErr = errors.Join(c.shutdown(ctx), c.removeTempDirs())
	})
	return c.stopErr
}

func (c *Cluster) shutdown(ctx context.Context) error {
	if c.cmd == nil || c.exitedNow() {
		return nil
	}
	started := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	if c.waitExit(ctx, 30*time.Second) {
		c.logger.Info("pglocal: cluster stopped", "data_dir", c.dataDir, "took", time.Since(started))
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	if c.waitExit(context.Background(), 5*time.Second) {
		return errors.New("pglocal: stop: fast shutdown did not finish in time; used immediate shutdown (SIGQUIT)")
	}
	_ = c.cmd.Process.Kill()
	if c.waitExit(context.Background(), 5*time.Second) {
		return errors.New("pglocal: stop: postgres ignored SIGINT and SIGQUIT; killed it")
	}
	return fmt.Errorf("pglocal: stop: postgres (pid %d) did not exit even after SIGKILL", c.cmd.Process.Pid)
}

// kill ends a server that failed to start, without ceremony.
func (c *Cluster) kill() {
	if c.cmd == nil || c.exitedNow() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	if !c.waitExit(context.Background(), 5*time.Second) {
		_ = c.cmd.Process.Kill()
		c.waitExit(context.Background(), 5*time.Second)
	}
}

func (c *Cluster) exitedNow() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

func (c *Cluster) waitExit(ctx context.Context, limit time.Duration) bool {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-c.exited:
		return true
	case <-ctx.Done():
		return c.exitedNow()
	case <-timer.C:
		return false
	}
}

func (c *Cluster) removeTempDirs() error {
	var errs []error
	if c.sockDir != "" {
		if err := os.RemoveAll(c.sockDir); err != nil {
			errs = append(errs, fmt.Errorf("pglocal: remove socket dir: %w", err))
		}
	}
	if c.tempRoot != "" {
		if err := os.RemoveAll(c.tempRoot); err != nil {
			errs = append(errs, fmt.Errorf("pglocal: remove temp cluster: %w", err))
		}
	}
	return errors.Join(errs...)
}

// logTail returns the end of this run's server log, formatted to append to
// an error.
func (c *Cluster) logTail(from int64) string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 8 << 10
	if st, err := f.Stat(); err == nil && st.Size()-from > max {
		from = st.Size() - max
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ""
	}
	b, err := io.ReadAll(f)
	if err != nil || len(b) == 0 {
		return fmt.Sprintf("\n(server log %s is empty)", c.logPath)
	}
	return fmt.Sprintf("\n--- server log %s (tail) ---\n%s", c.logPath, tailLines(b, 40))
}

// tailLines returns at most the last n lines of b.
func tailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// removeStaleTempClusters removes throwaway clusters left behind by
// processes that died without calling Stop (a test binary killed by its
// timeout, say). A cluster is stale when its owner file names a process that
// no longer exists and no postmaster still runs in it. Best effort: failures
// are only logged.
func removeStaleTempClusters(logger *slog.Logger) {
	roots, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, root := range roots {
		b, err := os.ReadFile(filepath.Join(root, ownerFile))
		if err != nil {
			continue // not ours, or still being created
		}
		fields := strings.Split(string(b), "\n")
		pid, err := strconv.Atoi(fields[0])
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if pm := postmasterPID(filepath.Join(root, "data")); pm > 0 && processAlive(pm) {
			continue
		}
		if len(fields) > 1 && isSocketDir(fields[1]) {
			_ = os.RemoveAll(fields[1])
		}
		if err := os.RemoveAll(root); err != nil {
			logger.Warn("pglocal: remove stale temporary cluster", "dir", root, "err", err)
			continue
		}
		logger.Info("pglocal: removed stale temporary cluster", "dir", root, "owner_pid", pid)
	}
}

func isSocketDir(dir string) bool {
	parent := filepath.Dir(dir)
	return strings.HasPrefix(filepath.Base(dir), sockPrefix) &&
		(parent == filepath.Clean(os.TempDir()) || parent == "/tmp")
}

func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	return pid
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
