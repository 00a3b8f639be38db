package ledger

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on what one ledger row may hold. Anything larger is refused before
// the database is touched.
const (
	MaxResultIDBytes       = 256
	MaxIdempotencyKeyBytes = 256
	MaxErrorBytes          = 8 << 10
	// MaxMetadataBytes bounds metadata by the length of its jsonb text
	// form (octet_length(metadata::text)), as rac.ack and the table
	// constraints do: {"a":1} counts as {"a": 1}, 8 bytes.
	MaxMetadataBytes    = 64 << 10
	MaxDescriptionBytes = 1 << 10
	// MaxDeclaredByBytes bounds Options.DeclaredBy, as rac.expect and the
	// table constraint expectations_declared_by_bytes do.
	MaxDeclaredByBytes = 256
	// MaxDeadline bounds a declared deadline; it keeps deadline_at far
	// inside PostgreSQL's timestamp range.
	MaxDeadline = 10 * 366 * 24 * time.Hour
)

// maxMetadataInputBytes bounds the raw metadata parsed at all: input over
// 1 MiB is refused as too long whatever its jsonb text form (which only
// whitespace, escapes and repeated keys make shorter than the input).
const maxMetadataInputBytes = 16 * MaxMetadataBytes

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

var tenantPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// validName reports whether s is a well-formed domain or action name.
func validName(s string) bool { return namePattern.MatchString(s) }

// checkText validates a free-text field against its byte limit and against
// what PostgreSQL text can store.
func checkText(item string, index int, field, value string, limit int) error {
	if len(value) > limit {
		return &InputError{Item: item, Index: index, Field: field, Err: ErrTooLong,
			Reason: fmt.Sprintf("%d bytes, at most %d", len(value), limit)}
	}
	if !utf8.ValidString(value) {
		return &InputError{Item: item, Index: index, Field: field, Err: ErrBadText,
			Reason: "not valid UTF-8"}
	}
	if strings.IndexByte(value, 0) >= 0 {
		return &InputError{Item: item, Index: index, Field: field, Err: ErrBadText,
			Reason: "contains a NUL byte"}
	}
	return nil
}

// checkMetadata validates optional JSON metadata as PostgreSQL will: it
// must be a document jsonb accepts (valid JSON and UTF-8, no \u0000, no
// lone surrogate, numbers within numeric's range, nesting at most 10000
// deep) whose jsonb text form, the size rac.ack and the table constraints
// measure, is at most MaxMetadataBytes.
func checkMetadata(item string, index int, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	fail := func(err error, reason string) error {
		return &InputError{Item: item, Index: index, Field: "metadata", Err: err, Reason: reason}
	}
	if len(raw) > maxMetadataInputBytes {
		return fail(ErrTooLong, fmt.Sprintf("%d bytes of input, at most %d", len(raw), maxMetadataInputBytes))
	}
	n, reason := jsonbText(raw)
	if reason != "" {
		return fail(ErrBadMetadata, reason)
	}
	if n > MaxMetadataBytes {
		return fail(ErrTooLong, fmt.Sprintf("%d bytes as jsonb text, at most %d", n, MaxMetadataBytes))
	}
	return nil
}

// checkTenant validates a tenant name given as item's field.
func checkTenant(item, field, name string) error {
	if tenantPattern.MatchString(name) {
		return nil
	}
	return &InputError{Item: item, Index: -1, Field: field, Err: ErrBadName,
		Reason: fmt.Sprintf("%q does not match %s", name, tenantPattern)}
}

// nilDB is the error for a nil database handle given for item.
func nilDB(item string) error {
	return &InputError{Item: item, Index: -1, Err: ErrNilDB, Reason: "nil database handle"}
}

// checkPair validates the shape of a domain and action name.
func checkPair(item string, index int, d Domain, a Action) error {
	if !validName(string(d)) {
		return &InputError{Item: item, Index: index, Field: "domain", Err: ErrBadName,
			Reason: fmt.Sprintf("%q does not match %s", d, namePattern)}
	}
	if !validName(string(a)) {
		return &InputError{Item: item, Index: index, Field: "action", Err: ErrBadName,
			Reason: fmt.Sprintf("%q does not match %s", a, namePattern)}
	}
	return nil
}

// validateExpectations checks a batch in Go and returns it with identical
// repeats removed.
func validateExpectations(runID uuid.UUID, exps []Expectation) ([]Expectation, error) {
	if runID == uuid.Nil {
		return nil, &InputError{Item: "expectation", Index: -1, Field: "run_id", Err: ErrNilRun, Reason: "run id is the nil UUID"}
	}
	if len(exps) == 0 {
		return nil, &InputError{Item: "expectation", Index: -1, Err: ErrEmpty, Reason: "no expectations given"}
	}
	seen := make(map[actionKey]int, len(exps))
	out := make([]Expectation, 0, len(exps))
	for i, e := range exps {
		if err := checkPair("expectation", i, e.Domain, e.Action); err != nil {
			return nil, err
		}
		if e.Deadline < time.Millisecond || e.Deadline > MaxDeadline {
			return nil, &InputError{Item: "expectation", Index: i, Field: "deadline", Err: ErrNoDeadline,
				Reason: fmt.Sprintf("%v is outside [1ms, %v]", e.Deadline, MaxDeadline)}
		}
		k := actionKey{e.Domain, e.Action}
		if j, ok := seen[k]; ok {
			if exps[j].Deadline.Milliseconds() != e.Deadline.Milliseconds() {
				return nil, &InputError{Item: "expectation", Index: i, Field: "deadline", Err: ErrDuplicate,
					Reason: fmt.Sprintf("%s also declared at index %d with deadline %v", k, j, exps[j].Deadline)}
			}
			continue
		}
		seen[k] = i
		out = append(out, e)
	}
	return out, nil
}

// validateAcks checks a batch of acks in Go.
func validateAcks(acks []Ack) error {
	if len(acks) == 0 {
		return &InputError{Item: "ack", Index: -1, Err: ErrEmpty, Reason: "no acks given"}
	}
	for i, a := range acks {
		if a.RunID == uuid.Nil {
			return &InputError{Item: "ack", Index: i, Field: "run_id", Err: ErrNilRun, Reason: "run id is the nil UUID"}
		}
		if err := checkPair("ack", i, a.Domain, a.Action); err != nil {
			return err
		}
		if err := checkText("ack", i, "result_id", a.ResultID, MaxResultIDBytes); err != nil {
			return err
		}
		if err := checkText("ack", i, "idempotency_key", a.IdempotencyKey, MaxIdempotencyKeyBytes); err != nil {
			return err
		}
		if err := checkText("ack", i, "error", a.Error, MaxErrorBytes); err != nil {
			return err
		}
		if err := checkMetadata("ack", i, a.Metadata); err != nil {
			return err
		}
	}
	return nil
}
