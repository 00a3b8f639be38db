// Package migrate is the binary's and the tests' side of the public
// migrations package: the same Migrator, plus Evidence, which tells
// `rac migrate down` whether reversing a migration could drop audit rows.
package migrate

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/migrations"
)

// TableName is where the applied versions are recorded
// (migrations.TableName).
const TableName = migrations.TableName

// Migrator runs the embedded migrations against one database: the public
// migrations.Migrator, which this package wraps for the binary and tests.
type Migrator = migrations.Migrator

// Status is the state of one migration (migrations.Status).
type Status = migrations.Status

// New returns a Migrator for the database behind pool. logger may be nil.
// Close releases the *sql.DB wrapper; it does not close pool.
func New(pool *pgxpool.Pool, logger *slog.Logger) (*Migrator, error) {
	return migrations.NewFromPool(pool, logger)
}

// EvidenceTables are the tables whose rows are audit evidence: the ledger
// tables a seal covers, the seal chain itself, the run phases and
// governance checks (not sealed yet) and the authors rows name.
var EvidenceTables = []string{
	"rac.expectations", "rac.acks", "rac.findings", "rac.finding_resolutions",
	"rac.run_verdicts", "rac.reconciliations", "rac.seals",
	"rac.run_phases", "rac.governance_checks", "rac.authors",
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

// Up is a convenience that applies every pending migration to pool
// (migrations.Up).
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	return migrations.Up(ctx, pool, logger)
}
