package ledger

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/internal/txutil"
)

// Beginner is a DBTX that can open a nested transaction: a pgx.Tx (whose
// Begin creates a savepoint), a *pgx.Conn or a *pgxpool.Pool (whose Begin
// starts a transaction of its own).
type Beginner interface {
	DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Track runs a domain operation inside a savepoint of tx and acks what it
// did, the seed's facade pattern (IncidentFacade.create_incident_for_run
// acking CREATE_INCIDENT). ack names the run, domain and action (and
// optionally an idempotency key and metadata); its ResultID and Error are
// filled in by Track.
//
//   - op succeeds: the ack with op's result id is written inside the
//     savepoint, which is then released, so the domain's rows and their ack
//     commit together with tx or not at all. If the ack cannot be written,
//     the savepoint is rolled back too and the error returned.
//   - op returns an error: the savepoint is rolled back (op's writes are
//     undone, and a statement op made fail no longer aborts tx), a failure
//     ack with the error's text is written on tx, and op's error is
//     returned (joined with the ack's error if that failed too).
//   - op panics: the same as an error, with the text "panic: <value>", and
//     Track returns a *PanicError (ErrPanicked) holding the value and the
//     stack instead of panicking again: the failure ack is evidence only
//     if tx commits, and a panic unwinding through the caller would
//     usually roll tx back. Re-panic on the result if the program must
//     crash.
//
// Either way tx stays usable. The ack is validated, and its action looked
// up in the catalog, before op runs: bad input returns ErrInvalid without
// running op. Everything is visible only if the caller's transaction
// commits. Error texts are cut to MaxErrorBytes and made storable.
func (l *Ledger) Track(ctx context.Context, tx Beginner, ack Ack, op func(ctx context.Context, tx pgx.Tx) (resultID string, err error)) error {
	if err := l.ready(tx); err != nil {
		return err
	}
	ack.ResultID, ack.Error = "", ""
	if err := validateAcks([]Ack{ack}); err != nil {
		return l.refused(ctx, err)
	}
	if op == nil {
		return l.refused(ctx, &InputError{Item: "ack", Index: -1, Field: "op", Err: ErrInvalid, Reason: "nil operation"})
	}
	if l.enabled {
		if _, _, err := l.resolve(ctx, tx, "ack", []actionKey{{ack.Domain, ack.Action}}); err != nil {
			return err
		}
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("rac: track %s/%s: savepoint: %w", ack.Domain, ack.Action, err)
	}
	resultID, opErr := runGuarded(ctx, sp, op)
	if opErr == nil {
		ok := ack
		ok.ResultID = resultID
		if err := checkText("ack", -1, "result_id", resultID, MaxResultIDBytes); err != nil {
			opErr = err
		} else if err := l.Ack(ctx, sp, ok); err != nil {
			return errors.Join(fmt.Errorf("rac: track %s/%s: ack: %w", ack.Domain, ack.Action, err),
				rollbackSavepoint(ctx, sp))
		} else if err := sp.Commit(ctx); err != nil {
			return fmt.Errorf("rac: track %s/%s: release savepoint: %w", ack.Domain, ack.Action, err)
		} else {
			return nil
		}
	}
	// Failure: undo the operation, then say so on the caller's transaction.
	if err := rollbackSavepoint(ctx, sp); err != nil {
		return errors.Join(opErr, err)
	}
	fail := ack
	fail.Error = errorText(opErr)
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.Ack(ackCtx, tx, fail); err != nil {
		return errors.Join(opErr, fmt.Errorf("rac: track %s/%s: failure ack: %w", ack.Domain, ack.Action, err))
	}
	return opErr
}

// runGuarded runs op, turning a panic into a *PanicError.
func runGuarded(ctx context.Context, tx pgx.Tx, op func(context.Context, pgx.Tx) (string, error)) (id string, err error) {
	defer func() {
		if v := recover(); v != nil {
			id, err = "", &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return op(ctx, tx)
}

// rollbackSavepoint rolls sp back even when ctx was cancelled.
func rollbackSavepoint(ctx context.Context, sp pgx.Tx) error {
	if err := txutil.Rollback(ctx, sp); err != nil {
		return fmt.Errorf("rac: track: savepoint: %w", err)
	}
	return nil
}

// errorText is err's text as an ack can store it: valid UTF-8 without NUL
// bytes, at most MaxErrorBytes, never empty.
func errorText(err error) string {
	var s string
	var pe *PanicError
	if errors.As(err, &pe) {
		s = fmt.Sprintf("panic: %v", pe.Value)
	} else {
		s = err.Error()
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) > MaxErrorBytes {
		cut := MaxErrorBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	if strings.TrimSpace(s) == "" {
		s = fmt.Sprintf("%T with no text", err)
	}
	return s
}

// Span is a started start_X/complete_X pair (the seed's TraceFacade:
// start_trace, then complete_trace); rac.spans shows its duration.
type Span struct {
	l        *Ledger
	runID    uuid.UUID
	domain   Domain
	complete Action
	key      string
}

// StartSpan acks ack (whose Action must be start_X, with complete_X in
// the catalog for the same domain) on dbtx, visible only if the caller's
// transaction commits, and returns the span to complete. Bad input, or a
// pair not in the catalog, returns ErrInvalid and writes nothing.
func (l *Ledger) StartSpan(ctx context.Context, dbtx DBTX, ack Ack) (*Span, error) {
	if err := l.ready(dbtx); err != nil {
		return nil, err
	}
	name, ok := strings.CutPrefix(string(ack.Action), "start_")
	if !ok || name == "" {
		return nil, l.refused(ctx, &InputError{Item: "ack", Index: -1, Field: "action", Err: ErrInvalid,
			Reason: fmt.Sprintf("%s is not a start_X action", ack.Action)})
	}
	s := &Span{l: l, runID: ack.RunID, domain: ack.Domain, complete: Action("complete_" + name), key: ack.IdempotencyKey}
	if err := checkPair("ack", -1, s.domain, s.complete); err != nil {
		return nil, l.refused(ctx, err)
	}
	if l.enabled {
		if _, _, err := l.resolve(ctx, dbtx, "ack", []actionKey{{s.domain, s.complete}}); err != nil {
			return nil, err
		}
	}
	if err := l.Ack(ctx, dbtx, ack); err != nil {
		return nil, err
	}
	return s, nil
}

// Complete acks the span's complete_X action on dbtx, visible only if the
// caller's transaction commits: a success with resultID when opErr is nil,
// else a failure report with opErr's text. It uses the start's idempotency
// key, so completing twice writes one ack.
func (s *Span) Complete(ctx context.Context, dbtx DBTX, resultID string, opErr error) error {
	a := Ack{RunID: s.runID, Domain: s.domain, Action: s.complete, ResultID: resultID, IdempotencyKey: s.key}
	if opErr != nil {
		a.ResultID, a.Error = "", errorText(opErr)
	}
	return s.l.Ack(ctx, dbtx, a)
}
