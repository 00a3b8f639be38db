package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/db"
)

// ReconcileRun reconciles one run of the reconciler's tenant now, without
// waiting for the schedule, records what it finds like a pass would, and
// returns the run's statuses and verdict. A run with no expectation and no
// ack returns ErrRunNotFound and records nothing.
func (r *Reconciler) ReconcileRun(ctx context.Context, runID uuid.UUID) (Result, error) {
	res := Result{RunID: runID, Tenant: r.tenant}
	finalizeID, err := r.finalizeActionID(ctx)
	if err != nil {
		return res, err
	}
	tenantID, ok, err := r.catalog.TenantID(ctx, r.pool, r.tenant)
	if err != nil {
		return res, fmt.Errorf("reconciler: %w", err)
	}
	if !ok {
		return res, fmt.Errorf("%w: tenant %q does not exist", ErrRunNotFound, r.tenant)
	}
	passID := uuid.New()
	started := time.Now()
	err = r.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		ps, err := queries.PassStart(ctx, tx)
		if err != nil {
			return fmt.Errorf("read clock: %w", err)
		}
		if !ps.SeesWholeLedger {
			return ErrPartialView
		}
		// An on-demand run covers no window: it leaves the watermark alone.
		w := passWindow{horizonFrom: ps.HorizonFrom, horizonTo: ps.HorizonFrom,
			deadlineFrom: ps.DeadlineFrom, deadlineTo: ps.DeadlineFrom, asOf: ps.AsOf}
		p := r.batchParams(passID, w, finalizeID, []db.PassCandidatesRow{{TenantID: tenantID, RunID: runID}})
		p.Scope, p.Final, p.StartedAt, p.ReturnStatuses = "run", false, started, true
		row, err := queries.ReconcileBatch(ctx, tx, p)
		if err != nil {
			return err
		}
		if len(row.Statuses) == 0 {
			return ErrRunNotFound // rolls back the reconciliation row
		}
		open, err := queries.RunOpenFindings(ctx, tx, db.RunOpenFindingsParams{TenantID: tenantID, RunID: runID})
		if err != nil {
			return fmt.Errorf("read open findings: %w", err)
		}
		res = r.result(ctx, res, row, open)
		res.AsOf = ps.AsOf
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrRunNotFound) {
			return res, fmt.Errorf("%w: %s in tenant %q", ErrRunNotFound, runID, r.tenant)
		}
		return res, fmt.Errorf("reconciler: reconcile run %s: %w", runID, err)
	}
	return res, nil
}

// result fills a Result from the batch's statuses and the run's open
// findings.
func (r *Reconciler) result(ctx context.Context, res Result, row db.ReconcileBatchRow, open []db.RunOpenFindingsRow) Result {
	res.ReconciliationID = row.ReconciliationID
	res.Verdict = row.FirstVerdict
	for i, status := range row.Statuses {
		ref := r.actionRef(ctx, row.StatusActionIds[i])
		if status != statusDrift {
			res.Expected = append(res.Expected, ref)
		}
		switch status {
		case statusAcked:
			res.Acked = append(res.Acked, ref)
		case statusLate:
			res.Late = append(res.Late, ref)
		case statusFailed:
			res.Failed = append(res.Failed, ref)
		case statusPending:
			res.Pending = append(res.Pending, ref)
		case statusMissing:
			res.Missing = append(res.Missing, ref)
		case statusDrift:
			res.Drift = append(res.Drift, ref)
		}
	}
	for _, f := range open {
		switch f.Kind {
		case KindInvalid:
			res.Invalid = append(res.Invalid, r.actionRef(ctx, f.ActionID))
		case KindStale:
			res.Stale = true
		}
	}
	return res
}
