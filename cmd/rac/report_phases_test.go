package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// `rac report --run` prints the run's phase timeline and its governance
// checks (table and JSON).
func TestReportRunPhases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	l := newLedger()
	run := uuid.New()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := l.Expect(ctx, tx, run, ledger.StandardRun(time.Hour)...); err != nil {
			return err
		}
		for _, p := range []ledger.Phase{ledger.PhaseCreated, ledger.PhaseAuthorized, ledger.PhaseExecuting} {
			if err := l.Advance(ctx, tx, run, p, ""); err != nil {
				return err
			}
		}
		_, err := l.Checkpoint(ctx, tx, run, ledger.CheckpointOptions{Policy: ledger.FinalizeWithExceptions})
		if err != nil {
			return err
		}
		return l.Advance(ctx, tx, run, ledger.PhaseFinalizing, "with exceptions")
	}))

	res := rac(ctx, dbEnv(db.URL), "report", "--run", run.String())
	require.Contains(t, res.stdout, "phases of run "+run.String()+": 5")
	require.Contains(t, res.stdout, "governance_check")
	require.Contains(t, res.stdout, "with exceptions")
	require.Contains(t, res.stdout, "incidents/create_incident: pending")

	rep, _ := reportJSON(t, db.URL, "--run", run.String())
	require.NotNil(t, rep.Run)
	require.NotNil(t, rep.Run.Phases)
	require.Len(t, rep.Run.Phases.Timeline, 5)
	require.Equal(t, "excepted", *rep.Run.Phases.Timeline[3].CheckOutcome)
	require.Len(t, rep.Run.Phases.Checks, 1)
	require.Equal(t, "excepted", rep.Run.Phases.Checks[0].Outcome)
}
