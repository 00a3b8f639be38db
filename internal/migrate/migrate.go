// Package migrate applies the embedded RAC Ledger migrations with goose.
//
// Every entry point goes through a goose Provider with a Postgres session
// (advisory) locker, so any number of migrators may run at once: one
// applies the pending migrations, the others wait and then find nothing to
// do.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/racledger/racledger/migrations"
)

// lockID is the advisory lock key goose's session locker takes while it
// migrates; it spells "RACLEDGR" in ASCII so it never collides by accident.
const lockID int64 = 0x5241434c45444752

// TableName is where goose records applied versions. It lives in the public
// schema because the rac schema is created by the first migration and
// dropped by its down migration.
const TableName = "rac_goose_db_version"

// Migrator runs the embedded migrations against one database.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
}

// New returns a Migrator for the database behind pool. logger may be nil.
// Close releases the *sql.DB wrapper; it does not close pool.
func New(pool *pgxpool.Pool, logger *slog.Logger) (*Migrator, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID))
	if err != nil {
		return nil, fmt.Errorf("migrate: session locker: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	opts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithTableName(TableName),
		goose.WithDisableGlobalRegistry(true),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, opts...)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrate: new provider: %w", err)
	}
	return &Migrator{db: db, provider: provider}, nil
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
// nothing to reverse.
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
	Version int64
	Name    string
	Applied bool
}

// Status lists every migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	results, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	out := make([]Status, 0, len(results))
	for _, r := range results {
		out = append(out, Status{
			Version: r.Source.Version,
			Name:    r.Source.Path,
			Applied: r.State == goose.StateApplied,
		})
	}
	return out, nil
}

// Close releases the database handle the Migrator opened over the pool.
func (m *Migrator) Close() error {
	return m.db.Close()
}

// EvidenceTables are the tables whose rows are audit evidence: the ledger
// tables a seal covers, then the seal chain itself.
var EvidenceTables = []string{
	"rac.expectations", "rac.acks", "rac.findings", "rac.finding_resolutions",
	"rac.run_verdicts", "rac.reconciliations", "rac.seals",
}

// Evidence returns the evidence tables (EvidenceTables) that exist in the
// database behind pool and hold at least one row, in EvidenceTables order;
// none on an empty ledger or one not migrated. The session must see every
// row (a superuser, the table owner or an operator role): row-level
// security would hide other tenants' rows.
func Evidence(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	var out []string
	for _, t := range EvidenceTables {
		var exists bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t).Scan(&exists); err != nil {
			return nil, fmt.Errorf("migrate: look for %s: %w", t, err)
		}
		if !exists {
			continue
		}
		var rows bool
		if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t+")").Scan(&rows); err != nil {
			return nil, fmt.Errorf("migrate: look for rows in %s: %w", t, err)
		}
		if rows {
			out = append(out, t)
		}
	}
	return out, nil
}

// Up is a convenience that applies every pending migration to pool.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	m, err := New(pool, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}
