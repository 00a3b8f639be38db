package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/peterldowns/pgtestdb"

	"github.com/racledger/racledger/internal/migrate"
)

// PoolMaxConns is the size of the pools NewPool returns: enough for tests
// that run 50 goroutines against one database.
const PoolMaxConns = 60

// Main runs the tests of a package and then stops the server pgtest started
// for them, if any (a local cluster or a container), before exiting with the
// tests' exit code. Call it from TestMain in every package that uses pgtest:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without it a local cluster still dies with the test binary, but its
// temporary directory stays behind until a later run removes it.
func Main(m *testing.M) {
	code := m.Run()
	if err := stopServer(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	os.Exit(code)
}

// MainWithDatabase is Main for packages whose Examples need a database
// (an Example has no *testing.T to ask for one): it creates one database
// with every migration applied before the tests run, hands it to use, and
// drops it after them.
func MainWithDatabase(m *testing.M, use func(Database)) {
	code := func() int {
		db, drop, err := sharedDatabase(context.Background())
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			return 1
		}
		defer drop()
		use(db)
		return m.Run()
	}()
	if err := stopServer(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	os.Exit(code)
}

// sharedDatabase creates a migrated database outside any test and returns
// a function that drops it.
func sharedDatabase(ctx context.Context) (Database, func(), error) {
	findServer()
	if discoverErr != nil {
		return Database{}, nil, discoverErr
	}
	base, err := pgx.Connect(ctx, formatURL(current.conf))
	if err != nil {
		return Database{}, nil, fmt.Errorf("connect to %s: %w", current.source, err)
	}
	defer base.Close(ctx)
	var suffix int64
	if err := base.QueryRow(ctx, `SELECT (random() * 1e12)::bigint`).Scan(&suffix); err != nil {
		return Database{}, nil, fmt.Errorf("name shared database: %w", err)
	}
	name := fmt.Sprintf("rac_shared_%d", suffix)
	if _, err := base.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return Database{}, nil, fmt.Errorf("create shared database: %w", err)
	}
	conf := current.conf
	conf.Database = name
	db := Database{Name: name, URL: formatURL(conf), admin: formatURL(conf)}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, formatURL(current.conf))
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: drop %s: %v\n", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: drop %s: %v\n", name, err)
		}
	}
	pool, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		drop()
		return Database{}, nil, fmt.Errorf("open shared database: %w", err)
	}
	defer pool.Close()
	if err := migrate.Up(ctx, pool, nil); err != nil {
		drop()
		return Database{}, nil, fmt.Errorf("migrate shared database: %w", err)
	}
	return db, drop, nil
}

// Database is a fresh database created for one test.
type Database struct {
	// Name is the database's name.
	Name string
	// URL is a postgres:// connection URL for the database, usable by pgx,
	// psql and rac subprocesses.
	URL string

	admin string
}

// Admin returns a connection URL for the same database as a superuser, for
// tests that need one (pg_terminate_backend, reading other sessions in
// pg_stat_activity). Tests already connect as the server's superuser, so
// today it equals URL; use Admin where superuser rights are the point, so
// such tests keep working if URL ever stops being a superuser's.
func (d Database) Admin() string { return d.admin }

// NewDatabase creates a fresh database with every migration applied and
// returns how to reach it. It is dropped when the test ends (kept if the
// test failed); connections still open then are terminated. It fails the
// test if no server can be found or the database cannot be created.
func NewDatabase(t testing.TB) Database {
	t.Helper()
	return newDatabase(t, migrator{})
}

// NewEmptyDatabase creates a fresh database with no migrations applied, for
// tests of the migrations themselves. It is dropped when the test ends, like
// NewDatabase's.
func NewEmptyDatabase(t testing.TB) Database {
	t.Helper()
	return newDatabase(t, pgtestdb.NoopMigrator{})
}

// NewPool returns a pool (at most PoolMaxConns connections) to a fresh
// database with every migration applied. The pool is closed when the test
// ends, before the database is dropped.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	db := NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatalf("pgtest: pool config: %v", err)
	}
	cfg.MaxConns = PoolMaxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: new pool: %v", err)
	}
	// Cleanups run last-registered first, and pgtestdb registered the drop
	// inside NewDatabase: the pool closes before the database is dropped.
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("pgtest: connect to %s: %v", db.Name, err)
	}
	return pool
}

func newDatabase(t testing.TB, m pgtestdb.Migrator) Database {
	t.Helper()
	srv := serverFor(t)
	cfg := pgtestdb.Custom(t, srv.conf, m)
	admin := srv.conf
	admin.Database = cfg.Database
	return Database{Name: cfg.Database, URL: formatURL(*cfg), admin: formatURL(admin)}
}

// formatURL renders a pgtestdb configuration as a postgres:// URL. Unlike
// pgtestdb.Config.URL it escapes the user and password and omits an empty
// password and host (a Unix socket directory travels in Options as host=).
func formatURL(c pgtestdb.Config) string {
	u := url.URL{Scheme: "postgres", Path: "/" + c.Database, RawQuery: c.Options}
	if c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	} else {
		u.User = url.User(c.User)
	}
	switch {
	case c.Host != "":
		u.Host = c.Host
		if c.Port != "" {
			u.Host += ":" + c.Port
		}
	case c.Port != "":
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += "port=" + url.QueryEscape(c.Port)
	}
	return u.String()
}
