package ledger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Errors of run orchestration: the governance checkpoint (Checkpoint), run
// phases (Advance) and tracked operations (Track). None of them aborts the
// caller's transaction: the refusal is found before anything is written or
// comes back from SQL as a row, never as a database error.
var (
	// ErrUnmet: the governance checkpoint refused to finalize a run because
	// some of its expectations are unmet (*UnmetError names them).
	ErrUnmet = errors.New("rac: run has unmet expectations")
	// ErrFinalized: the run passed a governance checkpoint before (in a
	// transaction that committed, or earlier in this one); a run is
	// finalized once.
	ErrFinalized = errors.New("rac: run already passed its governance checkpoint")
	// ErrPhase: a phase transition was refused (*PhaseError says why): the
	// phase is not the run's next one, or another transaction recorded it
	// first, or the checkpoint was asked of a run that records phases and
	// is not executing.
	ErrPhase = errors.New("rac: phase transition refused")
	// ErrPanicked: the operation given to Track panicked (*PanicError
	// holds the value and the stack).
	ErrPanicked = errors.New("rac: tracked operation panicked")
)

// Unmet is one expectation a governance checkpoint found unmet.
type Unmet struct {
	Domain Domain
	Action Action
	// Status is pending, missing, failed, drift or invalid: the
	// reconciler's status of the action (see docs/auditor-guide.md); drift
	// of orchestrator/finalize_run means the run never expected its
	// finalization.
	Status string
}

func (u Unmet) String() string { return string(u.Domain) + "/" + string(u.Action) + ": " + u.Status }

// UnmetError is returned by Checkpoint under policy RefuseUnmet when
// anything is unmet. It unwraps to ErrUnmet. The refused check is recorded
// in rac.governance_checks if the caller commits; the caller's transaction
// is usable either way.
type UnmetError struct {
	RunID   uuid.UUID
	CheckID int64
	Unmet   []Unmet
}

func (e *UnmetError) Error() string {
	items := make([]string, len(e.Unmet))
	for i, u := range e.Unmet {
		items[i] = u.String()
	}
	return fmt.Sprintf("rac: run %s not finalized: unmet %s", e.RunID, strings.Join(items, ", "))
}

// Unwrap returns ErrUnmet.
func (e *UnmetError) Unwrap() error { return ErrUnmet }

// PhaseError says why a phase transition was refused. It unwraps to
// ErrPhase.
type PhaseError struct {
	RunID uuid.UUID
	// Phase is the phase asked for.
	Phase Phase
	// Latest is the run's latest phase before the call ("" for none).
	Latest Phase
	// Reason is skip, backward, repeat, taken (another transaction recorded
	// the phase first), reserved (governance_check is recorded by
	// Checkpoint) or not_executing (Checkpoint of a run that records phases
	// and is not executing).
	Reason string
}

func (e *PhaseError) Error() string {
	latest := string(e.Latest)
	if latest == "" {
		latest = "none"
	}
	return fmt.Sprintf("rac: run %s cannot enter phase %s (%s): its latest phase is %s", e.RunID, e.Phase, e.Reason, latest)
}

// Unwrap returns ErrPhase.
func (e *PhaseError) Unwrap() error { return ErrPhase }

// PanicError is returned by Track when its operation panicked: the
// operation's writes were rolled back to the savepoint and a failure ack
// was recorded. It unwraps to ErrPanicked.
type PanicError struct {
	// Value is what the operation passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("rac: tracked operation panicked: %v", e.Value)
}

// Unwrap returns ErrPanicked.
func (e *PanicError) Unwrap() error { return ErrPanicked }
