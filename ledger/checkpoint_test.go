package ledger_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// The checkpoint judges each status as the reconciler does: its unmet
// items are exactly the pending, missing, failed, drift and invalid
// statuses of rac.action_status (finalize_run aside), a refusal leaves the
// caller's transaction usable, and a passing check writes the finalize_run
// ack in the same transaction.
func TestCheckpointStatuses(t *testing.T) {
	t.Parallel()
	g := setupGov(t)
	now := ledgertest.Now(t, g.admin)
	past := now.Add(-2 * time.Hour) // declared two hours ago, deadline one hour: overdue

	cases := []struct {
		name    string
		arrange func(run uuid.UUID)
		unmet   []string
	}{
		{"all acked passes", func(run uuid.UUID) {
			ledgertest.DeclareRun(t, g.admin, "default", run, now, time.Hour)
			ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun)
		}, nil},
		{"pending", func(run uuid.UUID) {
			ledgertest.DeclareRun(t, g.admin, "default", run, now, time.Hour)
			ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun, ledger.CreateIncident)
		}, []string{"incidents/create_incident: pending"}},
		{"missing", func(run uuid.UUID) {
			ledgertest.DeclareRun(t, g.admin, "default", run, past, time.Hour)
			ledgertest.AckRun(t, g.admin, run, past, ledger.FinalizeRun, ledger.EvaluatePolicy)
		}, []string{"policies/evaluate_policy: missing"}},
		{"failed", func(run uuid.UUID) {
			ledgertest.DeclareRun(t, g.admin, "default", run, now, time.Hour)
			ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun, ledger.StartTrace)
			ledgertest.Ack(t, g.admin, run, ledger.Logs, ledger.StartTrace, "collector down", now)
		}, []string{"logs/start_trace: failed"}},
		{"drift", func(run uuid.UUID) {
			for _, e := range ledgertest.StandardExcept(ledger.EvaluatePolicy) {
				ledgertest.Declare(t, g.admin, "default", run, e.Domain, e.Action, now, time.Hour)
			}
			ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun)
		}, []string{"policies/evaluate_policy: drift"}},
		{"late is met", func(run uuid.UUID) {
			ledgertest.DeclareRun(t, g.admin, "default", run, past, time.Hour)
			ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun)
		}, nil},
		{"a success after an error is met", func(run uuid.UUID) {
			ledgertest.DeclareRun(t, g.admin, "default", run, now, time.Hour)
			ledgertest.Ack(t, g.admin, run, ledger.Logs, ledger.StartTrace, "retrying", now)
			ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun)
		}, nil},
		{"invalid contract", func(run uuid.UUID) {
			for _, e := range ledgertest.StandardExcept(ledger.CreateIncident) {
				ledgertest.Declare(t, g.admin, "default", run, e.Domain, e.Action, now, time.Hour)
			}
			ledgertest.Declare(t, g.admin, "default", run, ledger.Incidents, ledger.CreateIncident, now, 0)
			ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun)
		}, []string{"incidents/create_incident: invalid"}},
		{"finalize_run never expected", func(run uuid.UUID) {
			for _, e := range ledgertest.StandardExcept(ledger.FinalizeRun) {
				ledgertest.Declare(t, g.admin, "default", run, e.Domain, e.Action, now, time.Hour)
			}
			ledgertest.AckRun(t, g.admin, run, now, ledger.FinalizeRun)
		}, []string{"orchestrator/finalize_run: drift"}},
		{"an undeclared run", func(run uuid.UUID) {}, []string{"orchestrator/finalize_run: drift"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := uuid.New()
			c.arrange(run)
			want := unmetOf(g.statuses(t, run))
			if c.name == "finalize_run never expected" || c.name == "an undeclared run" {
				want = append(want, c.unmet...)
			}
			require.Equal(t, c.unmet, want, "the reconciler's statuses")

			tx := g.begin(t, pgx.ReadCommitted)
			res, err := g.l.Checkpoint(g.ctx, tx, run, ledger.CheckpointOptions{})
			if c.unmet == nil {
				require.NoError(t, err)
				require.Equal(t, ledger.OutcomePassed, res.Outcome)
				require.True(t, res.Finalized())
			} else {
				var ue *ledger.UnmetError
				require.ErrorAs(t, err, &ue)
				require.True(t, errors.Is(err, ledger.ErrUnmet))
				require.Equal(t, c.unmet, unmetStrings(ue.Unmet))
				require.Equal(t, ledger.OutcomeRefused, res.Outcome)
				require.False(t, res.Finalized())
			}
			// The caller's transaction is usable either way.
			_, err = tx.Exec(g.ctx, `INSERT INTO public.incidents (run_id, note) VALUES ($1, 'after the check')`, run)
			require.NoError(t, err)
			require.NoError(t, tx.Commit(g.ctx))

			var outcome, author string
			require.NoError(t, g.admin.QueryRow(g.ctx,
				`SELECT outcome, author FROM rac.governance_outcomes WHERE run_id = $1`, run).Scan(&outcome, &author))
			require.Equal(t, res.Outcome, outcome)
			require.Equal(t, g.role, author, "the check names the login that made it")
			if c.unmet == nil {
				require.Equal(t, 1, g.finalizeAcks(t, run))
				var resultID string
				require.NoError(t, g.admin.QueryRow(g.ctx, `
					SELECT a.result_id FROM rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id
					WHERE a.run_id = $1 AND c.action = 'finalize_run'`, run).Scan(&resultID))
				require.Equal(t, ledger.FinalizeResultPrefix+strconv.FormatInt(res.CheckID, 10), resultID)
			} else {
				require.Zero(t, g.finalizeAcks(t, run), "a refused check writes no finalize ack")
			}
		})
	}
}

// A waived finding counts as met, as the reconciler's open findings do;
// policy FinalizeWithExceptions finalizes with the unmet items recorded,
// and rac.governance_exceptions shows them beside the reconciler's
// findings; a run finalizes once.
func TestCheckpointWaiversExceptionsAndOnce(t *testing.T) {
	t.Parallel()
	g := setupGov(t)
	rec, err := reconciler.New(g.admin, reconciler.Options{})
	require.NoError(t, err)
	now := ledgertest.Now(t, g.admin)
	past := now.Add(-2 * time.Hour)

	waivedRun, exceptedRun := uuid.New(), uuid.New()
	for _, run := range []uuid.UUID{waivedRun, exceptedRun} {
		ledgertest.DeclareRun(t, g.admin, "default", run, past, time.Hour)
		ledgertest.AckRun(t, g.admin, run, past, ledger.FinalizeRun, ledger.CreateIncident)
	}
	ledgertest.Pass(t, g.admin, rec)
	_, err = g.admin.Exec(g.ctx, `SELECT rac.waive(f.finding_id, 'incident created by hand', 'ops')
		FROM rac.open_findings f WHERE f.run_id = $1 AND f.kind = 'missing' AND f.action = 'create_incident'`, waivedRun)
	require.NoError(t, err)

	t.Run("waived is met", func(t *testing.T) {
		g.inTx(t, func(tx pgx.Tx) {
			res, err := g.l.Checkpoint(g.ctx, tx, waivedRun, ledger.CheckpointOptions{})
			require.NoError(t, err)
			require.Equal(t, ledger.OutcomePassed, res.Outcome)
		})
	})

	t.Run("finalize with exceptions", func(t *testing.T) {
		g.inTx(t, func(tx pgx.Tx) {
			res, err := g.l.Checkpoint(g.ctx, tx, exceptedRun, ledger.CheckpointOptions{Policy: ledger.FinalizeWithExceptions})
			require.NoError(t, err)
			require.Equal(t, ledger.OutcomeExcepted, res.Outcome)
			require.Equal(t, []string{"incidents/create_incident: missing"}, unmetStrings(res.Unmet))
		})
		require.Equal(t, 1, g.finalizeAcks(t, exceptedRun))
		ledgertest.Pass(t, g.admin, rec)
		var kind, status string
		var open bool
		require.NoError(t, g.admin.QueryRow(g.ctx, `
			SELECT status_at_check, finding_kind, finding_open FROM rac.governance_exceptions WHERE run_id = $1`,
			exceptedRun).Scan(&status, &kind, &open))
		require.Equal(t, []any{"missing", "missing", true}, []any{status, kind, open},
			"the exception and the reconciler's open finding agree")
	})

	t.Run("a run finalizes once", func(t *testing.T) {
		tx := g.begin(t, pgx.ReadCommitted)
		_, err := g.l.Checkpoint(g.ctx, tx, waivedRun, ledger.CheckpointOptions{})
		require.ErrorIs(t, err, ledger.ErrFinalized)
		_, err = tx.Exec(g.ctx, `SELECT 1`)
		require.NoError(t, err, "the transaction is usable")
	})

	t.Run("bad options write nothing", func(t *testing.T) {
		tx := g.begin(t, pgx.ReadCommitted)
		_, err := g.l.Checkpoint(g.ctx, tx, uuid.Nil, ledger.CheckpointOptions{})
		require.ErrorIs(t, err, ledger.ErrInvalid)
		_, err = g.l.Checkpoint(g.ctx, tx, exceptedRun, ledger.CheckpointOptions{Policy: 7})
		require.ErrorIs(t, err, ledger.ErrInvalid)
		_, err = g.l.Checkpoint(g.ctx, tx, exceptedRun, ledger.CheckpointOptions{Grace: -time.Second})
		require.ErrorIs(t, err, ledger.ErrInvalid)
	})
}

// Acks of other transactions: one in flight is not seen, so an
// uncommitted success never counts; a failure committing after a passed
// check cannot contradict it (a success decides the status); a REPEATABLE
// READ caller judges its own snapshot, and what that snapshot missed is
// listed by rac.governance_unseen; two finalizers cannot both finalize.
func TestCheckpointConcurrentAcks(t *testing.T) {
	t.Parallel()
	g := setupGov(t)
	rec, err := reconciler.New(g.admin, reconciler.Options{})
	require.NoError(t, err)
	now := ledgertest.Now(t, g.admin)
	declare := func(except ...ledger.Action) uuid.UUID {
		run := uuid.New()
		ledgertest.DeclareRun(t, g.admin, "default", run, now, time.Hour)
		ledgertest.AckRun(t, g.admin, run, now, append(except, ledger.FinalizeRun)...)
		return run
	}

	t.Run("a success in flight is not counted", func(t *testing.T) {
		run := declare(ledger.CreateIncident)
		domain := g.begin(t, pgx.ReadCommitted)
		require.NoError(t, g.l.Ack(g.ctx, domain, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc"}))
		orch := g.begin(t, pgx.ReadCommitted)
		_, err := g.l.Checkpoint(g.ctx, orch, run, ledger.CheckpointOptions{})
		require.ErrorIs(t, err, ledger.ErrUnmet)
		require.NoError(t, domain.Commit(g.ctx))
		// Read committed: the next statement of the same transaction sees it.
		res, err := g.l.Checkpoint(g.ctx, orch, run, ledger.CheckpointOptions{})
		require.NoError(t, err)
		require.Equal(t, ledger.OutcomePassed, res.Outcome)
		require.NoError(t, orch.Commit(g.ctx))
	})

	t.Run("a failure committed later does not contradict a pass", func(t *testing.T) {
		run := declare()
		domain := g.begin(t, pgx.ReadCommitted)
		require.NoError(t, g.l.Ack(g.ctx, domain, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace, Error: "late failure"}))
		g.inTx(t, func(tx pgx.Tx) {
			_, err := g.l.Checkpoint(g.ctx, tx, run, ledger.CheckpointOptions{})
			require.NoError(t, err)
		})
		require.NoError(t, domain.Commit(g.ctx))
		ledgertest.Pass(t, g.admin, rec)
		require.Empty(t, unmetOf(g.statuses(t, run)))
		var verdict string
		require.NoError(t, g.admin.QueryRow(g.ctx, `SELECT verdict FROM rac.run_status WHERE run_id = $1`, run).Scan(&verdict))
		require.Equal(t, "clean", verdict, "the reconciler agrees with the checkpoint")
	})

	t.Run("repeatable read judges its snapshot; unseen evidence is listed", func(t *testing.T) {
		run := declare(ledger.CreateIncident)
		orch := g.begin(t, pgx.RepeatableRead)
		_, err := orch.Exec(g.ctx, `SELECT 1`) // takes the snapshot
		require.NoError(t, err)
		g.ack(t, run, ledger.Incidents, ledger.CreateIncident, "")
		_, err = g.l.Checkpoint(g.ctx, orch, run, ledger.CheckpointOptions{})
		require.ErrorIs(t, err, ledger.ErrUnmet, "a success committed after the snapshot is not seen")
		require.NoError(t, orch.Rollback(g.ctx))

		// Now a drift ack commits after the snapshot of a check that passes.
		orch = g.begin(t, pgx.RepeatableRead)
		_, err = orch.Exec(g.ctx, `SELECT 1`)
		require.NoError(t, err)
		_, err = g.admin.Exec(g.ctx, `INSERT INTO rac.contract_actions (domain, action) VALUES ('policies', 'extra_review') ON CONFLICT DO NOTHING`)
		require.NoError(t, err)
		g.ack(t, run, ledger.Policies, "extra_review", "")
		res, err := g.l.Checkpoint(g.ctx, orch, run, ledger.CheckpointOptions{})
		require.NoError(t, err)
		require.Equal(t, ledger.OutcomePassed, res.Outcome)
		require.NoError(t, orch.Commit(g.ctx))
		var action string
		var before bool
		require.NoError(t, g.admin.QueryRow(g.ctx, `
			SELECT action, written_before_check FROM rac.governance_unseen WHERE run_id = $1`, run).Scan(&action, &before))
		require.Equal(t, "extra_review", action)
		require.True(t, before)
	})

	t.Run("two finalizers: one wins", func(t *testing.T) {
		run := declare()
		a := g.begin(t, pgx.ReadCommitted)
		_, err := g.l.Checkpoint(g.ctx, a, run, ledger.CheckpointOptions{})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			b, err := g.writer.Begin(context.Background())
			if err != nil {
				done <- err
				return
			}
			defer func() { _ = b.Rollback(context.Background()) }()
			_, err = g.l.Checkpoint(context.Background(), b, run, ledger.CheckpointOptions{})
			done <- err
		}()
		g.waitBlocked(t)
		require.NoError(t, a.Commit(g.ctx))
		require.ErrorIs(t, <-done, ledger.ErrFinalized)
		require.Equal(t, 1, g.finalizeAcks(t, run))
	})
}
