package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// LockID is the advisory lock key held while migrations run; it spells
// "RACLEDGR" in ASCII so it never collides by accident. Any number of
// migrators may run at once: one applies the pending migrations, the
// others wait for the lock and then find nothing to do.
const LockID int64 = 0x5241434c45444752

// TableName is where the applied versions are recorded (goose's version
// table). It lives in the public schema because the rac schema is created
// by the first migration and dropped by its down migration.
const TableName = "rac_goose_db_version"

// Migrator applies, reverses and lists the embedded migrations on one
// database. It is safe to use from several processes at once.
type Migrator struct {
	db       *sql.DB
	ownDB    bool
	provider *goose.Provider
}

// New returns a Migrator for db, a PostgreSQL database/sql handle (for
// example stdlib.OpenDBFromPool(pool) or sql.Open("pgx", url)). logger,
// when not nil, receives one line per migration. Close does not close db.
func New(db *sql.DB, logger *slog.Logger) (*Migrator, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(LockID))
	if err != nil {
		return nil, fmt.Errorf("migrations: session locker: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithTableName(TableName),
		goose.WithDisableGlobalRegistry(true),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, FS, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: new provider: %w", err)
	}
	return &Migrator{db: db, provider: provider}, nil
}

// NewFromPool returns a Migrator for the database behind pool. Close
// releases the database/sql wrapper it opens; it does not close pool.
func NewFromPool(pool *pgxpool.Pool, logger *slog.Logger) (*Migrator, error) {
	db := stdlib.OpenDBFromPool(pool)
	m, err := New(db, logger)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	m.ownDB = true
	return m, nil
}

// Up applies every pending migration and returns how many it applied.
func (m *Migrator) Up(ctx context.Context) (int, error) {
	results, err := m.provider.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("migrate up: %w", err)
	}
	return len(results), nil
}

// UpTo applies the pending migrations up to and including version and
// returns how many it applied.
func (m *Migrator) UpTo(ctx context.Context, version int64) (int, error) {
	results, err := m.provider.UpTo(ctx, version)
	if err != nil {
		return len(results), fmt.Errorf("migrate up to %d: %w", version, err)
	}
	return len(results), nil
}

// Down reverses the most recent migration. It reports false when there was
// nothing to reverse. A down migration may drop evidence for good: callers
// should refuse it over a ledger that holds rows (rac migrate down does).
func (m *Migrator) Down(ctx context.Context) (bool, error) {
	_, err := m.provider.Down(ctx)
	if err != nil {
		if errors.Is(err, goose.ErrNoNextVersion) {
			return false, nil
		}
		return false, fmt.Errorf("migrate down: %w", err)
	}
	return true, nil
}

// DownTo reverses migrations until version is the newest applied one; 0
// reverses them all.
func (m *Migrator) DownTo(ctx context.Context, version int64) (int, error) {
	results, err := m.provider.DownTo(ctx, version)
	if err != nil {
		return len(results), fmt.Errorf("migrate down to %d: %w", version, err)
	}
	return len(results), nil
}

// Status is the state of one migration.
type Status struct {
	// Version is the migration's number (the file's prefix).
	Version int64
	// Name is the migration's file name.
	Name string
	// Applied reports whether it is applied; AppliedAt is when (the zero
	// time when it is not).
	Applied   bool
	AppliedAt time.Time
}

// Status lists every migration and whether (and when) it is applied.
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	results, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	out := make([]Status, 0, len(results))
	for _, r := range results {
		out = append(out, Status{
			Version:   r.Source.Version,
			Name:      r.Source.Path,
			Applied:   r.State == goose.StateApplied,
			AppliedAt: r.AppliedAt,
		})
	}
	return out, nil
}

// Pending reports whether any migration is not applied yet.
func (m *Migrator) Pending(ctx context.Context) (bool, error) {
	p, err := m.provider.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate pending: %w", err)
	}
	return p, nil
}

// Close releases the database/sql handle NewFromPool opened; after New it
// does nothing.
func (m *Migrator) Close() error {
	if !m.ownDB {
		return nil
	}
	return m.db.Close()
}

// Up applies every pending migration to the database behind pool: what a
// service calls at start to bring the ledger's schema up to date. logger
// may be nil.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	m, err := NewFromPool(pool, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}
