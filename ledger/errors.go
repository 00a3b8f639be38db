package ledger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// ErrInvalid is wrapped by every error that refuses bad input. Such a call
// wrote nothing and left the caller's transaction usable.
var ErrInvalid = errors.New("rac: invalid input")

// Specific kinds of invalid input; each wraps ErrInvalid.
var (
	// ErrNilRun: the run id is the zero UUID.
	ErrNilRun = fmt.Errorf("%w: nil run id", ErrInvalid)
	// ErrBadName: a domain, action or tenant name does not match its pattern.
	ErrBadName = fmt.Errorf("%w: malformed name", ErrInvalid)
	// ErrUnknownAction: the (domain, action) pair is not in the catalog.
	ErrUnknownAction = fmt.Errorf("%w: unknown domain/action", ErrInvalid)
	// ErrUnknownTenant: the tenant named in Options.Tenant does not exist.
	ErrUnknownTenant = fmt.Errorf("%w: unknown tenant", ErrInvalid)
	// ErrNoDeadline: an expectation's deadline is zero, negative, below one
	// millisecond or above MaxDeadline.
	ErrNoDeadline = fmt.Errorf("%w: deadline out of range", ErrInvalid)
	// ErrTooLong: a text or metadata field exceeds its limit.
	ErrTooLong = fmt.Errorf("%w: value too long", ErrInvalid)
	// ErrBadText: a text field is not valid UTF-8 or contains a NUL byte,
	// which PostgreSQL text cannot store.
	ErrBadText = fmt.Errorf("%w: text not storable", ErrInvalid)
	// ErrBadMetadata: metadata is not a document PostgreSQL jsonb accepts:
	// not valid JSON or UTF-8, a \u0000 escape or a lone surrogate
	// (\ud800), a number outside numeric's range (1e1000000,
	// 1e-1000000), or nesting deeper than 10000.
	ErrBadMetadata = fmt.Errorf("%w: bad metadata", ErrInvalid)
	// ErrDuplicate: one batch declares the same (domain, action) twice with
	// different deadlines.
	ErrDuplicate = fmt.Errorf("%w: duplicate in batch", ErrInvalid)
	// ErrEmpty: there is nothing to write.
	ErrEmpty = fmt.Errorf("%w: nothing to write", ErrInvalid)
	// ErrNilDB: the database handle is nil.
	ErrNilDB = fmt.Errorf("%w: nil database handle", ErrInvalid)
)

// ErrConflict is returned when an expectation is declared again with a
// different deadline. Nothing of that batch was written.
var ErrConflict = errors.New("rac: expectation declared before with a different deadline")

// InputError says which item and field of a call was refused, and why.
// It unwraps to one of the specific errors above, and so to ErrInvalid.
type InputError struct {
	// Item is "ack", "expectation", "options", "action" or "tenant".
	Item string
	// Index is the position of the item in the call's batch, -1 when the
	// error is not about one item.
	Index int
	// Field is the offending field, e.g. "idempotency_key".
	Field string
	// Reason explains the refusal in a few words.
	Reason string
	// Err is the specific sentinel (ErrTooLong, ErrUnknownAction, ...).
	Err error
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString("rac: invalid ")
	b.WriteString(e.Item)
	if e.Index >= 0 {
		fmt.Fprintf(&b, "[%d]", e.Index)
	}
	if e.Field != "" {
		b.WriteString(".")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the specific sentinel error.
func (e *InputError) Unwrap() error { return e.Err }

// ConflictError names the expectations that were declared before with a
// different deadline. It unwraps to ErrConflict.
type ConflictError struct {
	RunID   uuid.UUID
	Actions []string // "domain/action"
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("rac: run %s: %s declared before with a different deadline",
		e.RunID, strings.Join(e.Actions, ", "))
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// ErrForbidden is returned when the session's database role may not write
// for a domain: rac.domain_roles pins it to other domains (privilege ack
// for acks, expect for expectations). Nothing of that call was written and
// the caller's transaction stays usable. The SQL functions raise the same
// refusal as SQLSTATE RC112 (ack) and RC113 (expect).
var ErrForbidden = errors.New("rac: role may not write for this domain")

// ForbiddenError names the actions the session's role may not write. It
// unwraps to ErrForbidden.
type ForbiddenError struct {
	// Item is "ack" or "expectation".
	Item string
	// Actions are the refused "domain/action" pairs.
	Actions []string
}

func (e *ForbiddenError) Error() string {
	privilege := "ack"
	if e.Item == "expectation" {
		privilege = "expect"
	}
	return fmt.Sprintf("rac: %s refused: this database role may not write %s (rac.domain_roles pins it to other domains for privilege %s)",
		e.Item, strings.Join(e.Actions, ", "), privilege)
}

// Unwrap returns ErrForbidden.
func (e *ForbiddenError) Unwrap() error { return ErrForbidden }
