package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/ledger"
)

func phaseErr(t *testing.T, err error) *ledger.PhaseError {
	t.Helper()
	var pe *ledger.PhaseError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, ledger.ErrPhase)
	return pe
}

// Phases go forward one at a time, each once; governance_check is the
// checkpoint's; every refusal leaves the transaction usable; the timeline
// names the author of each transition and the checkpoint's outcome.
func TestPhaseTransitions(t *testing.T) {
	t.Parallel()
	g := setupGov(t)
	now := ledgertest.Now(t, g.admin)

	t.Run("valid and invalid transitions", func(t *testing.T) {
		run := uuid.New()
		ledgertest.DeclareRun(t, g.admin, "default", run, now, time.Hour)
		ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun)
		tx := g.begin(t, pgx.ReadCommitted)
		adv := func(p ledger.Phase) error { return g.l.Advance(g.ctx, tx, run, p, "") }

		require.Equal(t, "skip", phaseErr(t, adv(ledger.PhaseAuthorized)).Reason, "the first phase is created")
		require.NoError(t, adv(ledger.PhaseCreated))
		require.Equal(t, "repeat", phaseErr(t, adv(ledger.PhaseCreated)).Reason)
		require.Equal(t, "skip", phaseErr(t, adv(ledger.PhaseExecuting)).Reason)
		require.NoError(t, g.l.Advance(g.ctx, tx, run, ledger.PhaseAuthorized, "approved by policy engine"))
		_, err := g.l.Checkpoint(g.ctx, tx, run, ledger.CheckpointOptions{})
		pe := phaseErr(t, err)
		require.Equal(t, []any{"not_executing", ledger.PhaseAuthorized}, []any{pe.Reason, pe.Latest})
		require.NoError(t, adv(ledger.PhaseExecuting))
		require.Equal(t, "reserved", phaseErr(t, adv(ledger.PhaseGovernanceCheck)).Reason)
		require.Equal(t, "skip", phaseErr(t, adv(ledger.PhaseFinalizing)).Reason, "no finalizing before the check")
		res, err := g.l.Checkpoint(g.ctx, tx, run, ledger.CheckpointOptions{})
		require.NoError(t, err)
		require.Equal(t, ledger.OutcomePassed, res.Outcome)
		require.NoError(t, adv(ledger.PhaseFinalizing))
		require.NoError(t, adv(ledger.PhaseCompleted))
		pe = phaseErr(t, adv(ledger.PhaseExecuting))
		require.Equal(t, []any{"backward", ledger.PhaseCompleted}, []any{pe.Reason, pe.Latest})
		require.ErrorIs(t, adv("paused"), ledger.ErrInvalid)
		require.NoError(t, tx.Commit(g.ctx), "every refusal left the transaction usable")

		rows, err := g.admin.Query(g.ctx, `SELECT phase, author, coalesce(check_outcome, ''), coalesce(note, '')
			FROM rac.run_timeline WHERE run_id = $1 ORDER BY seq`, run)
		require.NoError(t, err)
		var got [][4]string
		for rows.Next() {
			var r [4]string
			require.NoError(t, rows.Scan(&r[0], &r[1], &r[2], &r[3]))
			got = append(got, r)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, [][4]string{
			{"created", g.role, "", ""},
			{"authorized", g.role, "", "approved by policy engine"},
			{"executing", g.role, "", ""},
			{"governance_check", g.role, "passed", ""},
			{"finalizing", g.role, "", ""},
			{"completed", g.role, "", ""},
		}, got)
	})

	t.Run("a refused check records no phase", func(t *testing.T) {
		run := uuid.New()
		ledgertest.DeclareRun(t, g.admin, "default", run, now, time.Hour)
		g.inTx(t, func(tx pgx.Tx) {
			for _, p := range []ledger.Phase{ledger.PhaseCreated, ledger.PhaseAuthorized, ledger.PhaseExecuting} {
				require.NoError(t, g.l.Advance(g.ctx, tx, run, p, ""))
			}
			_, err := g.l.Checkpoint(g.ctx, tx, run, ledger.CheckpointOptions{})
			require.ErrorIs(t, err, ledger.ErrUnmet)
			require.Equal(t, "skip", phaseErr(t, g.l.Advance(g.ctx, tx, run, ledger.PhaseFinalizing, "")).Reason)
		})
		var n int
		require.NoError(t, g.admin.QueryRow(g.ctx, `SELECT count(*) FROM rac.run_phases WHERE run_id = $1`, run).Scan(&n))
		require.Equal(t, 3, n)
	})

	t.Run("two transactions advancing a run: the second is refused", func(t *testing.T) {
		run := uuid.New()
		g.inTx(t, func(tx pgx.Tx) { require.NoError(t, g.l.Advance(g.ctx, tx, run, ledger.PhaseCreated, "")) })
		a := g.begin(t, pgx.ReadCommitted)
		require.NoError(t, g.l.Advance(g.ctx, a, run, ledger.PhaseAuthorized, "a"))
		done := make(chan error, 1)
		go func() {
			b, err := g.writer.Begin(context.Background())
			if err != nil {
				done <- err
				return
			}
			defer func() { _ = b.Rollback(context.Background()) }()
			err = g.l.Advance(context.Background(), b, run, ledger.PhaseAuthorized, "b")
			if err == nil {
				err = b.Commit(context.Background())
			}
			done <- err
		}()
		g.waitBlocked(t)
		require.NoError(t, a.Commit(g.ctx))
		require.Equal(t, "taken", phaseErr(t, <-done).Reason)
		var note string
		require.NoError(t, g.admin.QueryRow(g.ctx, `SELECT note FROM rac.run_phases WHERE run_id = $1 AND seq = 2`, run).Scan(&note))
		require.Equal(t, "a", note)
	})

	t.Run("the SQL function raises RC131", func(t *testing.T) {
		run := uuid.New()
		tx := g.begin(t, pgx.ReadCommitted)
		_, err := tx.Exec(g.ctx, `SELECT rac.advance_phase($1, 'executing')`, run)
		require.Equal(t, "RC131", pgCode(err))
	})
}
