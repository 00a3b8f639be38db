package pgtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver pgtestdb uses
	"github.com/peterldowns/pgtestdb"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/racledger/racledger/internal/pglocal"
)

// EnvDatabaseURL names the environment variable holding a superuser URL for
// an existing server; when set, tests use that server.
const EnvDatabaseURL = "RAC_TEST_DATABASE_URL"

// dockerImage is the image of the Docker source.
const dockerImage = "postgres:15-alpine"

const (
	dockerPingTimeout  = 5 * time.Second
	dockerStartTimeout = 3 * time.Minute
	localStartTimeout  = 2 * time.Minute
	verifyTimeout      = 30 * time.Second
	stopTimeout        = time.Minute
)

// localBinDir overrides where the local source looks for the server
// binaries; tests set it to exercise the "nothing found" failure.
var localBinDir string

// server is the PostgreSQL server this test binary uses.
type server struct {
	source  string // human-readable: which source and where
	version string // server_version
	conf    pgtestdb.Config
	stop    func(context.Context) error // nil when pgtest did not start it
}

var (
	discoverOnce sync.Once
	current      *server
	discoverErr  error
	discoverTook time.Duration
)

// serverFor returns the binary's server, finding it on first use, and fails
// t if there is none.
func serverFor(t testing.TB) *server {
	t.Helper()
	first := findServer()
	if discoverErr != nil {
		t.Fatalf("%v", discoverErr)
	}
	if first {
		t.Logf("pgtest: using %s, PostgreSQL %s (ready in %s)",
			current.source, current.version, discoverTook.Round(time.Millisecond))
	}
	return current
}

// findServer discovers the binary's server once; it reports whether this
// call did the discovering.
func findServer() (first bool) {
	discoverOnce.Do(func() {
		first = true
		started := time.Now()
		current, discoverErr = discover(context.Background())
		discoverTook = time.Since(started)
	})
	return first
}

// stopServer stops the server pgtest started, if any.
func stopServer() error {
	if current == nil || current.stop == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := current.stop(ctx); err != nil {
		return fmt.Errorf("stop %s: %w", current.source, err)
	}
	return nil
}

// discover tries the sources in order; see the package documentation.
func discover(ctx context.Context) (*server, error) {
	if raw := os.Getenv(EnvDatabaseURL); raw != "" {
		srv, err := newServer(ctx, raw, EnvDatabaseURL, nil)
		if err != nil {
			return nil, fmt.Errorf("pgtest: %s is set but unusable: %w", EnvDatabaseURL, err)
		}
		return srv, nil
	}

	dockerErr := errNoDocker
	if dockerMayBeRunning() {
		srv, err := fromDocker(ctx)
		if err == nil {
			return srv, nil
		}
		dockerErr = err
	}
	srv, localErr := fromLocal(ctx)
	if localErr == nil {
		return srv, nil
	}
	return nil, fmt.Errorf("pgtest: no PostgreSQL server to test against. Do one of:\n"+
		"  - set %s to a superuser URL, e.g. postgres://postgres:secret@localhost:5432/postgres?sslmode=disable\n"+
		"  - run a Docker engine (tests then start %s)\n"+
		"  - install the PostgreSQL server binaries, e.g. apt-get install postgresql\n"+
		"Tried:\n  - Docker: %v\n  - local PostgreSQL server: %v",
		EnvDatabaseURL, dockerImage, dockerErr, localErr)
}

var errNoDocker = errors.New("no Docker engine (DOCKER_HOST is unset and no Docker socket exists)")

// dockerMayBeRunning is the cheap check that decides whether Docker is worth
// asking at all.
func dockerMayBeRunning() bool {
	if os.Getenv("DOCKER_HOST") != "" {
		return true
	}
	sockets := []string{"/var/run/docker.sock"}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		sockets = append(sockets, filepath.Join(dir, "docker.sock"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		sockets = append(sockets,
			filepath.Join(home, ".docker", "run", "docker.sock"),
			filepath.Join(home, ".docker", "desktop", "docker.sock"))
	}
	for _, s := range sockets {
		if _, err := os.Stat(s); err == nil {
			return true
		}
	}
	return false
}

func fromDocker(ctx context.Context) (srv *server, err error) {
	// testcontainers may panic on a broken Docker setup; treat that as "no
	// Docker" so the local source still gets its turn.
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("testcontainers panicked: %v", r)
		}
	}()

	pingCtx, cancel := context.WithTimeout(ctx, dockerPingTimeout)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(pingCtx)
	if err != nil {
		return nil, fmt.Errorf("docker engine not reachable (waited at most %s): %w", dockerPingTimeout, err)
	}
	_ = cli.Close()

	runCtx, cancel := context.WithTimeout(ctx, dockerStartTimeout)
	defer cancel()
	ctr, err := tcpostgres.Run(runCtx, dockerImage,
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		// Replaces the module's default command, which turns fsync off.
		testcontainers.WithCmd("postgres",
			"-c", "fsync=on",
			"-c", "synchronous_commit=on",
			"-c", "max_connections=300"),
		tcpostgres.BasicWaitStrategies(),
	)
	stop := func(context.Context) error { return testcontainers.TerminateContainer(ctr) }
	if err != nil {
		_ = stop(ctx)
		return nil, fmt.Errorf("start %s container: %w", dockerImage, err)
	}
	connURL, err := ctr.ConnectionString(runCtx, "sslmode=disable")
	if err != nil {
		_ = stop(ctx)
		return nil, fmt.Errorf("container connection string: %w", err)
	}
	return newServer(ctx, connURL, "a Docker container ("+dockerImage+")", stop)
}

func fromLocal(ctx context.Context) (*server, error) {
	startCtx, cancel := context.WithTimeout(ctx, localStartTimeout)
	defer cancel()
	c, err := pglocal.Start(startCtx, pglocal.Options{
		BinDir: localBinDir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, err
	}
	source := fmt.Sprintf("a local cluster (internal/pglocal, socket %s, data %s)", c.Host(), c.DataDir())
	return newServer(ctx, c.URL("postgres"), source, c.Stop)
}

// newServer checks the server at rawURL and describes it for pgtestdb. On
// failure it stops the server with stop (when not nil).
func newServer(ctx context.Context, rawURL, source string, stop func(context.Context) error) (*server, error) {
	srv, err := func() (*server, error) {
		conf, err := configFromURL(rawURL)
		if err != nil {
			return nil, err
		}
		version, err := verify(ctx, conf)
		if err != nil {
			return nil, err
		}
		return &server{source: source, version: version, conf: conf, stop: stop}, nil
	}()
	if err != nil && stop != nil {
		if stopErr := stop(ctx); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}
	return srv, err
}

// configFromURL turns a superuser's postgres:// URL into a pgtestdb
// configuration whose TestRole is that superuser.
//
// pgtestdb formats URLs as postgres://user:password@host:port/db?options
// without escaping, so the password (which may hold any character) and a
// Unix socket directory go into the escaped options as password= and host=.
func configFromURL(raw string) (pgtestdb.Config, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// url.Parse errors quote the input, password included: say less.
		return pgtestdb.Config{}, errors.New("not a postgres:// or postgresql:// URL")
	}
	pc, err := pgconn.ParseConfig(raw)
	if err != nil {
		return pgtestdb.Config{}, fmt.Errorf("parse URL: %w", err)
	}
	q := u.Query()
	for _, k := range []string{"host", "hostaddr", "port", "user", "password", "dbname"} {
		q.Del(k)
	}
	conf := pgtestdb.Config{
		DriverName:                "pgx",
		User:                      pc.User,
		Port:                      strconv.Itoa(int(pc.Port)),
		Database:                  pc.Database,
		ForceTerminateConnections: true,
	}
	switch {
	case strings.HasPrefix(pc.Host, "/"):
		q.Set("host", pc.Host)
	case strings.Contains(pc.Host, ":"):
		conf.Host = "[" + pc.Host + "]"
	default:
		conf.Host = pc.Host
	}
	if pc.Password != "" {
		q.Set("password", pc.Password)
	}
	if conf.Database == "" {
		conf.Database = "postgres"
	}
	conf.Options = q.Encode()
	// Tests run as the server's superuser. The role exists, so pgtestdb
	// never creates it and the capabilities only feed the template hash.
	conf.TestRole = &pgtestdb.Role{Username: conf.User, Capabilities: "SUPERUSER"}
	return conf, nil
}

// verify connects to the server and checks that it is usable for the whole
// suite: the role is a superuser and commits are durable. It returns the
// server version.
func verify(ctx context.Context, conf pgtestdb.Config) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, formatURL(conf))
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var (
		super                               bool
		fsync, syncCommit, version, curUser string
	)
	err = conn.QueryRow(ctx, `SELECT r.rolsuper, current_setting('fsync'),
		current_setting('synchronous_commit'), current_setting('server_version'), current_user
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&super, &fsync, &syncCommit, &version, &curUser)
	if err != nil {
		return "", fmt.Errorf("inspect server: %w", err)
	}
	if !super {
		return "", fmt.Errorf("role %q is not a superuser; tests need one", curUser)
	}
	if fsync != "on" || syncCommit != "on" {
		return "", fmt.Errorf("server runs with fsync=%s and synchronous_commit=%s; durability tests need both on", fsync, syncCommit)
	}
	return version, nil
}
