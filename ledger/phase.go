package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/racledger/racledger/db"
)

// Phase is a stage of a run's life, recorded in rac.run_phases. A run's
// phases follow one order, each once: PhaseCreated, PhaseAuthorized,
// PhaseExecuting, PhaseGovernanceCheck (recorded by Checkpoint),
// PhaseFinalizing, PhaseCompleted. Recording phases is optional: a run
// without any is acked and checked all the same.
type Phase string

// The phases of a run, in order.
const (
	PhaseCreated         Phase = "created"
	PhaseAuthorized      Phase = "authorized"
	PhaseExecuting       Phase = "executing"
	PhaseGovernanceCheck Phase = "governance_check"
	PhaseFinalizing      Phase = "finalizing"
	PhaseCompleted       Phase = "completed"
)

// Phases lists the phases in their order.
var Phases = []Phase{PhaseCreated, PhaseAuthorized, PhaseExecuting, PhaseGovernanceCheck, PhaseFinalizing, PhaseCompleted}

// MaxNoteBytes is the limit of a phase's note.
const MaxNoteBytes = 1024

// Advance records that run enters phase, authored by the session's login
// role, on dbtx: visible only if the caller's transaction commits. phase
// must be the one after the run's latest (PhaseCreated for a run with
// none); PhaseGovernanceCheck is recorded by Checkpoint only. The order is
// checked in SQL (rac.advance_phase) against what has committed and the
// caller's own transaction; a refused transition returns a *PhaseError
// (ErrPhase) and writes nothing, leaving the transaction usable. Two
// transactions advancing the same run to the same phase cannot both
// succeed: the second waits for the first and gets Reason "taken" (under
// REPEATABLE READ PostgreSQL reports a serialization failure instead).
func (l *Ledger) Advance(ctx context.Context, dbtx DBTX, runID uuid.UUID, phase Phase, note string) error {
	if err := l.ready(dbtx); err != nil {
		return err
	}
	if runID == uuid.Nil {
		return l.refused(ctx, &InputError{Item: "phase", Index: -1, Field: "run_id", Err: ErrNilRun, Reason: "run id is the nil UUID"})
	}
	if !validPhase(phase) {
		return l.refused(ctx, &InputError{Item: "phase", Index: -1, Field: "phase", Err: ErrBadName,
			Reason: fmt.Sprintf("%q is not a phase", phase)})
	}
	if err := checkText("phase", -1, "note", note, MaxNoteBytes); err != nil {
		return l.refused(ctx, err)
	}
	if phase == PhaseGovernanceCheck {
		return l.refused(ctx, &PhaseError{RunID: runID, Phase: phase, Reason: "reserved"})
	}
	if !l.enabled {
		return nil
	}
	row, err := queries.PhaseAdvance(ctx, dbtx, db.PhaseAdvanceParams{
		RunID: runID, Phase: string(phase), Note: note, Tenant: l.tenant,
	})
	if err != nil {
		return fmt.Errorf("rac: advance run %s to %s: %w", runID, phase, err)
	}
	if row.Refusal != "" {
		return l.refused(ctx, &PhaseError{RunID: runID, Phase: phase, Latest: Phase(row.Latest), Reason: row.Refusal})
	}
	return nil
}

func validPhase(p Phase) bool {
	for _, q := range Phases {
		if p == q {
			return true
		}
	}
	return false
}
