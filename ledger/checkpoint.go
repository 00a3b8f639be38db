package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/racledger/racledger/db"
)

// Policy decides what Checkpoint does when some of a run's expectations
// are unmet.
type Policy int

const (
	// RefuseUnmet (the default) refuses to finalize while anything is
	// unmet: Checkpoint returns an *UnmetError and writes no finalize_run
	// ack. The refused check is recorded (rac.governance_checks, outcome
	// refused) if the caller commits.
	RefuseUnmet Policy = iota
	// FinalizeWithExceptions finalizes all the same and records the unmet
	// items as exceptions (outcome excepted), which rac.governance_exceptions
	// shows beside the reconciler's findings and `rac report --run` prints.
	FinalizeWithExceptions
)

func (p Policy) sql() (string, bool) {
	switch p {
	case RefuseUnmet:
		return "refuse", true
	case FinalizeWithExceptions:
		return "except", true
	}
	return "", false
}

// Outcomes of a governance checkpoint, as rac.governance_checks records them.
const (
	OutcomePassed   = "passed"
	OutcomeExcepted = "excepted"
	OutcomeRefused  = "refused"
)

// CheckpointOptions configure one Checkpoint call. The zero value refuses
// while anything is unmet, with no grace.
type CheckpointOptions struct {
	// Policy: RefuseUnmet (default) or FinalizeWithExceptions.
	Policy Policy
	// Grace is the reconciler's grace (RAC_GRACE, default 0). It only
	// names statuses as the reconciler would (pending or missing, acked or
	// late); it never changes the outcome, since pending and missing are
	// both unmet and acked and late both met.
	Grace time.Duration
}

// CheckResult is what a governance checkpoint found.
type CheckResult struct {
	RunID uuid.UUID
	// CheckID is the id of the check's rac.governance_checks row (0 when
	// the Ledger is disabled).
	CheckID int64
	// Outcome is OutcomePassed, OutcomeExcepted or OutcomeRefused ("" when
	// the Ledger is disabled).
	Outcome string
	// Unmet lists what was unmet, ordered by domain and action; empty
	// when the check passed.
	Unmet []Unmet
}

// Finalized reports whether the check let the run finalize (passed or
// excepted): the finalize_run ack was written.
func (r *CheckResult) Finalized() bool {
	return r != nil && (r.Outcome == OutcomePassed || r.Outcome == OutcomeExcepted)
}

// FinalizeResultPrefix starts the result id of the finalize_run ack that
// Checkpoint writes: "governance_check:" and the check's id.
const FinalizeResultPrefix = "governance_check:"

// FinalizeIdempotencyKey is the idempotency key of that ack.
const FinalizeIdempotencyKey = "governance_check"

// Checkpoint is the governance checkpoint an orchestrator calls inside its
// finalize transaction. It judges every expectation of run but
// orchestrator/finalize_run, with the reconciler's rules, from what had
// committed when its judging statement began plus dbtx's own writes
// (rac.governance_check, one statement, so one snapshot; under REPEATABLE
// READ the transaction's snapshot). An ack in flight in another
// transaction is not seen, so an uncommitted success never counts. Met
// are acked and late actions and statuses whose finding a person waived;
// unmet are pending, missing, failed, drift and invalid ones (see Unmet).
//
// The check is recorded on dbtx, visible only if the caller's transaction
// commits. When nothing is unmet, or opts.Policy is
// FinalizeWithExceptions, the run is finalized: the check records phase
// governance_check (if the run records phases) and the finalize_run ack is
// written through Ack in the same transaction (result id
// FinalizeResultPrefix + check id, key FinalizeIdempotencyKey). Otherwise
// it returns the result and an *UnmetError (ErrUnmet) and writes no ack.
//
// A run that passed a checkpoint before gets ErrFinalized; a run that
// records phases and is not executing a *PhaseError (ErrPhase). None of
// these refusals aborts the caller's transaction. Concurrent checkpoints of
// one run are safe: at most one of them finalizes it (a unique index); the
// other gets ErrFinalized once the first commits (under REPEATABLE READ, a
// serialization failure to retry).
func (l *Ledger) Checkpoint(ctx context.Context, dbtx DBTX, runID uuid.UUID, opts CheckpointOptions) (*CheckResult, error) {
	if err := l.ready(dbtx); err != nil {
		return nil, err
	}
	if runID == uuid.Nil {
		return nil, l.refused(ctx, &InputError{Item: "checkpoint", Index: -1, Field: "run_id", Err: ErrNilRun,
			Reason: "run id is the nil UUID"})
	}
	policy, ok := opts.Policy.sql()
	if !ok {
		return nil, l.refused(ctx, &InputError{Item: "checkpoint", Index: -1, Field: "policy", Err: ErrInvalid,
			Reason: fmt.Sprintf("unknown policy %d", opts.Policy)})
	}
	if opts.Grace < 0 {
		return nil, l.refused(ctx, &InputError{Item: "checkpoint", Index: -1, Field: "grace", Err: ErrInvalid,
			Reason: "grace is negative"})
	}
	if !l.enabled {
		return &CheckResult{RunID: runID}, nil
	}
	rows, err := queries.GovernanceCheck(ctx, dbtx, db.GovernanceCheckParams{
		RunID:  runID,
		Policy: policy,
		Grace:  pgtype.Interval{Microseconds: opts.Grace.Microseconds(), Valid: true},
		Tenant: l.tenant,
	})
	if err != nil {
		return nil, fmt.Errorf("rac: governance check of run %s: %w", runID, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("rac: governance check of run %s: no result", runID)
	}
	res := &CheckResult{RunID: runID, CheckID: rows[0].CheckID, Outcome: rows[0].Outcome}
	switch res.Outcome {
	case "out_of_phase":
		return nil, l.refused(ctx, &PhaseError{RunID: runID, Phase: PhaseGovernanceCheck, Latest: Phase(rows[0].Status),
			Reason: "not_executing"})
	case "finalized":
		return nil, l.refused(ctx, fmt.Errorf("%w: run %s", ErrFinalized, runID))
	}
	for _, r := range rows {
		if r.Domain != "" {
			res.Unmet = append(res.Unmet, Unmet{Domain: Domain(r.Domain), Action: Action(r.Action), Status: r.Status})
		}
	}
	if res.Outcome == OutcomeRefused {
		return res, l.refused(ctx, &UnmetError{RunID: runID, CheckID: res.CheckID, Unmet: res.Unmet})
	}
	if err := l.Ack(ctx, dbtx, Ack{
		RunID:          runID,
		Domain:         Orchestrator,
		Action:         FinalizeRun,
		ResultID:       FinalizeResultPrefix + strconv.FormatInt(res.CheckID, 10),
		IdempotencyKey: FinalizeIdempotencyKey,
	}); err != nil {
		return nil, fmt.Errorf("rac: finalize run %s after its governance check: %w", runID, err)
	}
	return res, nil
}
