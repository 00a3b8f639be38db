package seal

import "github.com/racledger/racledger/internal/canon"

// Progress is how far a Seal or Verify call has got. It is handed to the
// Progress hook of Options, VerifierOptions or VerifyOptions after every
// batch of rows read (at most 8192 rows), on the calling goroutine.
type Progress struct {
	// SealID is the seal being made or verified.
	SealID int64
	// Table is the ledger table (file stem) the batch was read from.
	Table string
	// Rows counts the rows read so far in the whole call, across tables
	// and seals; it never decreases, and after the last batch it is the
	// number of rows sealed or verified.
	Rows int64
	// Total is the number of rows the call will read when it is cheaply
	// known (Verify: the row counts the seals record); 0 when unknown
	// (Seal: counting the window would cost a pass of its own).
	Total int64
}

// tracker adds up the rows a call reads and reports them to its hook. A
// nil tracker, or one without a hook, reports nothing.
type tracker struct {
	hook func(Progress)
	p    Progress
}

// newTracker returns a tracker for hook, nil when hook is nil.
func newTracker(hook func(Progress), total int64) *tracker {
	if hook == nil {
		return nil
	}
	return &tracker{hook: hook, p: Progress{Total: total}}
}

// batch reports n more rows of canon.Tables[table] read for seal sealID.
func (t *tracker) batch(sealID int64, table, n int) {
	if t == nil {
		return
	}
	t.p.SealID, t.p.Table, t.p.Rows = sealID, canon.Tables[table].Stem, t.p.Rows+int64(n)
	t.hook(t.p)
}
