package seal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/db"
	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/evidence"
)

// Kinds of tampering Verify reports.
const (
	KindSealChanged = "seal-changed" // a seal row no longer matches its own seal_hash
	KindChainBroken = "chain-broken" // ids, horizons or prev_hash do not link to the previous seal
	KindCount       = "count"        // a table's row count differs and the hints cannot name the row (a row they name gets its own kind)
	KindEdited      = "edited"       // a sealed row's content changed
	KindInserted    = "inserted"     // a row appeared in a sealed window
	KindDeleted     = "deleted"      // a sealed row is gone
	KindRoot        = "root"         // the Merkle root differs and the hints cannot name a row
	KindHeadMissing = "head-missing" // the published head is not in the chain (truncated or rewritten)
	KindNoSeals     = "no-seals"     // a head was given but the chain is empty
	// KindRolledBack: the published head is not in the chain and the
	// server is on a later timeline than the one it was created on (it
	// was promoted from a standby or restored to a point in time): the
	// seals and rows written after the last WAL it received were lost, as
	// asynchronous replication loses them in a failover. Not proof of
	// tampering, but the lost rows are evidence that is gone.
	KindRolledBack = "rolled-back"
)

// Tamper describes the first inconsistency Verify found.
type Tamper struct {
	// SealID is the first seal that no longer matches (0 for a missing head
	// with an empty chain).
	SealID int64
	// Kind is one of the Kind constants.
	Kind string
	// Table is the ledger table (file stem) of a row-level finding.
	Table string
	// RowID is the edited or inserted row; 0 when unknown.
	RowID int64
	// After and Before bound a deleted row: it lay between these ids (0:
	// the start or end of the table's window).
	After, Before int64
	// Detail is a human-readable account.
	Detail string
}

// String describes the tampering in one line.
func (t *Tamper) String() string {
	s := fmt.Sprintf("seal %d: %s", t.SealID, t.Kind)
	if t.Table != "" {
		s += " in " + t.Table
	}
	switch {
	case t.Kind == KindDeleted:
		s += fmt.Sprintf(": a row deleted between id %s and id %s", idOrEdge(t.After, "start"), idOrEdge(t.Before, "end"))
	case t.RowID != 0:
		s += fmt.Sprintf(": row id %d", t.RowID)
	}
	if t.Detail != "" {
		s += " (" + t.Detail + ")"
	}
	return s
}

func idOrEdge(id int64, edge string) string {
	if id == 0 {
		return "(" + edge + " of window)"
	}
	return fmt.Sprint(id)
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// From is the first seal to verify; its prev_hash is trusted. Default
	// (0): the whole chain from seal 1.
	From int64
	// Head, when set, is a seal hash published elsewhere: the chain must
	// contain it, or Verify reports the chain truncated or rewritten.
	Head *canon.Hash
	// Progress, when set, is called as the rows of each seal are read,
	// with the rows the verified seals record as the total; see
	// [Progress].
	Progress func(Progress)
}

// Report is the outcome of Verify.
type Report struct {
	// Seals and Rows count what was recomputed.
	Seals int
	Rows  int64
	// Head is the last verified seal; nil for an empty chain.
	Head *Head
	// HeadFoundAt is the id of the seal whose hash equals VerifyOptions.Head
	// (0 when no head was given or it was not found).
	HeadFoundAt int64
	// Tamper is the first inconsistency; nil when the ledger is intact.
	Tamper *Tamper
	// Unsealed counts, per table in canon.Tables order, the rows no seal
	// covers: tx_id at or above the last seal's horizon_to (UnsealedFrom),
	// or every row when the chain is empty. Counted only when the chain
	// verified (Tamper nil).
	Unsealed []int64
	// UnsealedFrom is the horizon the unsealed rows start at (0: the
	// chain is empty).
	UnsealedFrom int64
}

// UnsealedRows is the number of rows no seal covers.
func (r *Report) UnsealedRows() int64 {
	var n int64
	for _, c := range r.Unsealed {
		n += c
	}
	return n
}

// Intact reports whether the verification found the ledger intact: no
// tampering, and not an empty chain over a ledger that holds rows (nothing
// vouches for such rows, and an empty chain is what deleting every seal
// leaves). Rows written after the last seal do not make a chain less
// intact; they are reported in Unsealed.
func (r *Report) Intact() bool {
	return r.Tamper == nil && !(r.Head == nil && r.UnsealedRows() > 0)
}

// UnsealedString describes the unsealed rows, e.g. "5 rows (acks 3,
// expectations 2)"; "" when there are none.
func (r *Report) UnsealedString() string {
	n := r.UnsealedRows()
	if n == 0 {
		return ""
	}
	var parts []string
	for i, c := range r.Unsealed {
		if c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", canon.Tables[i].Stem, c))
		}
	}
	return fmt.Sprintf("%d rows (%s)", n, strings.Join(parts, ", "))
}

// Verify recomputes every seal from the ledger rows, one seal at a time in
// its own REPEATABLE READ READ ONLY transaction, and checks the chain. It
// returns an error only when it could not do its work; tampering is
// reported in Report.Tamper. Memory stays flat for any ledger size: rows are
// streamed and only the running Merkle state is kept.
func Verify(ctx context.Context, pool *pgxpool.Pool, opts VerifyOptions) (*Report, error) {
	if err := seesWholeLedger(ctx, pool); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	src, err := evidence.Detect(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rep := &Report{}
	var prev *db.RacSeal
	after := int64(0)
	if opts.From > 1 {
		after = opts.From - 1
	}
	tr, err := verifyTracker(ctx, pool, src, opts.Progress, after)
	if err != nil {
		return nil, err
	}
	for {
		s, err := evidence.SealNext(ctx, pool, src, after)
		if errors.Is(err, pgx.ErrNoRows) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("verify: read seal after %d: %w", after, err)
		}
		after = s.ID
		hdr, t := checkSeal(&s, prev, opts.From)
		if t != nil {
			rep.Tamper = t
			return rep, nil
		}
		t, err = verifyRows(ctx, pool, src, hdr, tr)
		if err != nil {
			return nil, err
		}
		if t != nil {
			rep.Tamper = t
			return rep, nil
		}
		rows := int64(hdr.TreeSize())
		rep.Seals++
		rep.Rows += rows
		hash := hashOf(s.SealHash)
		rep.Head = &Head{ID: s.ID, Hash: hash}
		if opts.Head != nil && hash == *opts.Head {
			rep.HeadFoundAt = s.ID
		}
		prev = &s
	}
	if opts.From > 1 && rep.Seals == 0 {
		return nil, fmt.Errorf("verify: no seal %d", opts.From)
	}
	if opts.Head != nil && rep.HeadFoundAt == 0 {
		if tl := timeline(ctx, pool); tl > 1 {
			end := "the chain is empty"
			if rep.Head != nil {
				end = fmt.Sprintf("the chain ends at seal %d %s", rep.Head.ID, rep.Head.Hash)
			}
			rep.Tamper = &Tamper{SealID: headID(rep.Head), Kind: KindRolledBack,
				Detail: fmt.Sprintf("published head %s is not in the chain and %s; the server is on timeline %d "+
					"(it was promoted from a standby or restored from a backup), so the seals and rows written after "+
					"the last WAL it received are gone: a failover with asynchronous replication or a restore lost "+
					"them (or seals were removed since); recover them from the old primary, seal again, and publish the new head",
					opts.Head, end, tl)}
			return rep, nil
		}
		if rep.Head == nil {
			rep.Tamper = &Tamper{Kind: KindNoSeals, Detail: "the chain is empty but a head " + opts.Head.String() + " was published"}
		} else {
			rep.Tamper = &Tamper{SealID: rep.Head.ID, Kind: KindHeadMissing,
				Detail: fmt.Sprintf("published head %s is not in the chain, which ends at seal %d %s: seals were deleted from the end or the chain was rewritten", opts.Head, rep.Head.ID, rep.Head.Hash)}
		}
		return rep, nil
	}
	if prev != nil {
		rep.UnsealedFrom = prev.HorizonTo
	}
	unsealed, err := countUnsealed(ctx, pool, src, rep.UnsealedFrom)
	if err != nil {
		return nil, err
	}
	rep.Unsealed = unsealed
	return rep, nil
}

// verifyTracker returns the tracker of a Verify call whose hook is hook
// (nil without one) over the seals after seal after: its total is the
// sum of the row counts they record, read from src.
func verifyTracker(ctx context.Context, pool *pgxpool.Pool, src canon.Source, hook func(Progress), after int64) (*tracker, error) {
	if hook == nil {
		return nil, nil
	}
	var total int64
	err := pool.QueryRow(ctx, `SELECT coalesce(sum(n), 0)::bigint FROM `+evidence.SealsRelation(src)+`, unnest(row_counts) n WHERE id > $1`,
		after).Scan(&total)
	if err != nil {
		return nil, fmt.Errorf("verify: count the sealed rows: %w", err)
	}
	return newTracker(hook, total), nil
}

// headID is h's seal id, 0 for nil.
func headID(h *Head) int64 {
	if h == nil {
		return 0
	}
	return h.ID
}

// timeline returns the server's WAL timeline: 1 for a cluster never
// promoted or restored to a point in time, more after each promotion or
// point-in-time restore; 0 when it cannot tell. On a primary it is the
// timeline of the current WAL insert position; on a standby, the latest of
// the timeline it receives and that of its last restartpoint.
func timeline(ctx context.Context, pool *pgxpool.Pool) int64 {
	var tl int64
	err := pool.QueryRow(ctx, `
		SELECT CASE WHEN pg_is_in_recovery()
		    THEN greatest((SELECT timeline_id FROM pg_control_checkpoint()),
		                  (SELECT max(received_tli) FROM pg_stat_wal_receiver))
		    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
		END`).Scan(&tl)
	if err != nil {
		return 0
	}
	return tl
}

// countUnsealed counts, per ledger table read from src, the rows with
// tx_id >= from.
func countUnsealed(ctx context.Context, pool *pgxpool.Pool, src canon.Source, from int64) ([]int64, error) {
	counts := make([]int64, len(canon.Tables))
	for i := range canon.Tables {
		t := &canon.Tables[i]
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+t.Relation(src)+" WHERE tx_id >= $1", from).Scan(&counts[i]); err != nil {
			return nil, fmt.Errorf("verify: count the unsealed rows of %s: %w", t.Name, err)
		}
	}
	return counts, nil
}

// checkSeal checks a seal row against its own hash and its predecessor.
func checkSeal(s *db.RacSeal, prev *db.RacSeal, from int64) (canon.SealHeader, *Tamper) {
	hdr := headerOf(s)
	bad := func(kind, detail string) (canon.SealHeader, *Tamper) {
		return hdr, &Tamper{SealID: s.ID, Kind: kind, Detail: detail}
	}
	if len(s.MerkleRoot) != canon.HashSize || len(s.PrevHash) != canon.HashSize || len(s.SealHash) != canon.HashSize {
		return bad(KindSealChanged, "a hash column is not 32 bytes")
	}
	if err := hdr.Check(hashOf(s.SealHash)); err != nil {
		return bad(KindSealChanged, err.Error())
	}
	switch {
	case prev == nil && from <= 1:
		if s.ID != 1 || s.HorizonFrom != 0 || hdr.PrevHash != (canon.Hash{}) {
			return bad(KindChainBroken, fmt.Sprintf("the chain starts at seal %d (horizon %d), not at seal 1 from horizon 0 with a zero prev_hash", s.ID, s.HorizonFrom))
		}
	case prev == nil:
		if s.ID != from {
			return bad(KindChainBroken, fmt.Sprintf("seal %d is missing", from))
		}
	default:
		if s.ID != prev.ID+1 {
			return bad(KindChainBroken, fmt.Sprintf("follows seal %d: seals in between are missing", prev.ID))
		}
		if s.HorizonFrom != prev.HorizonTo {
			return bad(KindChainBroken, fmt.Sprintf("window starts at %d, seal %d ended at %d", s.HorizonFrom, prev.ID, prev.HorizonTo))
		}
		if hdr.PrevHash != hashOf(prev.SealHash) {
			return bad(KindChainBroken, fmt.Sprintf("prev_hash %s is not seal %d's hash %s", hdr.PrevHash, prev.ID, hashOf(prev.SealHash)))
		}
	}
	return hdr, nil
}

// headerOf returns the columns of s but seal_hash as canon hashes them.
func headerOf(s *db.RacSeal) canon.SealHeader {
	return canon.SealHeader{
		ID: s.ID, Version: s.Version, HorizonFrom: s.HorizonFrom, HorizonTo: s.HorizonTo,
		RowCounts: s.RowCounts, MerkleRoot: hashOf(s.MerkleRoot), PrevHash: hashOf(s.PrevHash),
		SealedAt: s.SealedAt,
	}
}

// verifyRows recomputes one seal's counts and root from the rows, in a
// REPEATABLE READ READ ONLY transaction of its own, reading src and
// reporting the rows it reads to tr (nil: none); they match when it
// returns no Tamper and no error.
func verifyRows(ctx context.Context, pool *pgxpool.Pool, src canon.Source, hdr canon.SealHeader, tr *tracker) (*Tamper, error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("verify: begin: %w", err)
	}
	defer rollback(ctx, tx)
	return verifyRowsTx(ctx, tx, src, hdr, tr)
}

// verifyRowsTx is verifyRows in the caller's transaction, whose snapshot
// must see every row of the seal's window (any snapshot taken after the
// seal's horizon does).
func verifyRowsTx(ctx context.Context, tx pgx.Tx, src canon.Source, hdr canon.SealHeader, tr *tracker) (*Tamper, error) {
	var each func(int, []leafRow) error
	if tr != nil {
		each = func(i int, batch []leafRow) error {
			tr.batch(hdr.ID, i, len(batch))
			return nil
		}
	}
	w, err := streamWindow(ctx, tx, src, "verify_rows", hdr.Version, hdr.HorizonFrom, hdr.HorizonTo, rowKey{}, each)
	if err != nil {
		return nil, fmt.Errorf("verify seal %d: %w", hdr.ID, err)
	}
	counts, root := w.counts, w.tree.Root()
	countsOK := true
	for i := range counts {
		countsOK = countsOK && counts[i] == hdr.RowCounts[i]
	}
	if root == hdr.MerkleRoot && countsOK {
		return nil, nil
	}
	// Detected. Name the row, with the hints, in the same snapshot.
	t, err := locate(ctx, tx, src, hdr, counts)
	if err != nil {
		return nil, err
	}
	if t.Detail == "" {
		t.Detail = fmt.Sprintf("recomputed root %s, sealed %s", root, hdr.MerkleRoot)
	}
	return t, nil
}

// locate walks each table's rows against the seal's stored leaf-hash
// prefixes and names the first row that differs. The hints are not trusted:
// detection already happened; if they were altered too, locate can only
// report the table whose count differs, or the root.
func locate(ctx context.Context, tx pgx.Tx, src canon.Source, hdr canon.SealHeader, counts []int64) (*Tamper, error) {
	tables, err := canon.TablesAt(hdr.Version)
	if err != nil {
		return nil, fmt.Errorf("verify seal %d: locate: %w", hdr.ID, err)
	}
	for i := range tables {
		table := &tables[i]
		t, err := locateInTable(ctx, tx, src, hdr.ID, table, hdr.HorizonFrom, hdr.HorizonTo)
		if err != nil {
			return nil, fmt.Errorf("verify seal %d: locate: %w", hdr.ID, err)
		}
		if t != nil {
			if counts[i] != hdr.RowCounts[i] {
				t.Detail = fmt.Sprintf("%d rows, sealed %d", counts[i], hdr.RowCounts[i])
			}
			return t, nil
		}
		if counts[i] != hdr.RowCounts[i] {
			return &Tamper{SealID: hdr.ID, Kind: KindCount, Table: table.Stem,
				Detail: fmt.Sprintf("%d rows, sealed %d; the hints cannot name the row", counts[i], hdr.RowCounts[i])}, nil
		}
	}
	return &Tamper{SealID: hdr.ID, Kind: KindRoot, Detail: "the rows differ from the sealed ones but the hints cannot name the row (they were altered too)"}, nil
}

func locateInTable(ctx context.Context, tx pgx.Tx, src canon.Source, sealID int64, table *canon.Table, from, to int64) (*Tamper, error) {
	rows, err := openLeafCursor(ctx, tx, src, table, "locate_rows", from, to)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.close(ctx) }()
	hints, err := openPrefixCursor(ctx, tx, src, "locate_hints", sealID, table.Stem)
	if err != nil {
		return nil, err
	}
	defer func() { _ = hints.close(ctx) }()

	found := func(kind string, id int64) *Tamper {
		return &Tamper{SealID: sealID, Kind: kind, Table: table.Stem, RowID: id}
	}
	var prevID int64
	for {
		r, rok, err := rows.next(ctx)
		if err != nil {
			return nil, err
		}
		s, sok, err := hints.next(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case !rok && !sok:
			return nil, nil
		case rok && sok && prefixOf(r.hash) == s:
			prevID = r.id
			continue
		case !rok:
			return &Tamper{SealID: sealID, Kind: KindDeleted, Table: table.Stem, After: prevID}, nil
		case !sok:
			return found(KindInserted, r.id), nil
		}
		// The first difference: look one row ahead on both sides.
		r2, rok2, err := rows.next(ctx)
		if err != nil {
			return nil, err
		}
		s2, sok2, err := hints.next(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case rok2 && sok2 && prefixOf(r2.hash) == s2, !rok2 && !sok2:
			return found(KindEdited, r.id), nil
		case rok2 && prefixOf(r2.hash) == s:
			return found(KindInserted, r.id), nil
		case sok2 && prefixOf(r.hash) == s2:
			return &Tamper{SealID: sealID, Kind: KindDeleted, Table: table.Stem, After: prevID, Before: r.id}, nil
		default:
			return &Tamper{SealID: sealID, Kind: KindEdited, Table: table.Stem, RowID: r.id,
				Detail: "the first row that differs; rows after it differ too"}, nil
		}
	}
}
