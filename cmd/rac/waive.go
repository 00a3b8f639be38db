package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const waiveSynopsis = "rac waive FINDING_ID --reason TEXT --actor NAME [--tenant NAME] [--database-url URL]"

// runWaive implements `rac waive`: it closes an open finding with a waiver
// through rac.waive, so the database checks the caller's right to waive
// (the rac_waiver role) and records who, why and when. The finding stays in
// history; the next reconciliation pass recomputes the run's verdict. A
// waiver sees only the findings of its tenant scope (docs/sql-api.md,
// "Tenants"): --tenant names the tenant of another's finding.
func runWaive(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "waive", waiveSynopsis)
	dbURL := databaseFlag(fs, env)
	reason := fs.String("reason", "", "why the finding is waived (required)")
	actor := fs.String("actor", "", "who waives it (required)")
	tenant := fs.String("tenant", "", "the finding's tenant (sets rac.tenant for the session); default: the role's own scope")
	arg, err := parsePositional(fs, args)
	if err != nil {
		return parseError(err)
	}
	if arg == "" {
		return exitUsage, fmt.Errorf("%w: give the finding id", errUsage)
	}
	findingID, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || findingID <= 0 {
		return exitUsage, fmt.Errorf("%w: finding id %q is not a positive integer", errUsage, arg)
	}
	if strings.TrimSpace(*reason) == "" || strings.TrimSpace(*actor) == "" {
		return exitUsage, fmt.Errorf("%w: --reason and --actor are required", errUsage)
	}

	pool, err := connect(ctx, *dbURL, func(cfg *pgxpool.Config) {
		if *tenant != "" {
			cfg.ConnConfig.RuntimeParams["rac.tenant"] = *tenant
		}
	})
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	if err := requirePrimary(ctx, pool, "rac waive"); err != nil {
		return exitError, err
	}
	var resolutionID int64
	err = pool.QueryRow(ctx, `SELECT rac.waive($1, $2, $3)`, findingID, *reason, *actor).Scan(&resolutionID)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return exitError, fmt.Errorf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
		}
		return exitError, fmt.Errorf("waive finding %d: %w", findingID, err)
	}
	fmt.Fprintf(env.stdout, "finding %d waived by %s (resolution %d); the next reconciliation pass updates the run's verdict\n",
		findingID, *actor, resolutionID)
	return exitOK, nil
}
