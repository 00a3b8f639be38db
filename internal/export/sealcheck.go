package export

import (
	"fmt"
	"sort"
	"strings"

	"github.com/racledger/racledger/internal/canon"
)

// SealCheck is what Verify found for one seal the manifest lists.
type SealCheck struct {
	// ID is the seal's id.
	ID int64
	// Checked reports that the export holds the seal's whole window, so
	// its Merkle root was rebuilt from the files and compared.
	Checked bool
	// OK reports that nothing was found wrong with the seal: its fields
	// hash to its seal_hash, it chains to the seal before it (when that is
	// listed too) and, when Checked, the rebuilt root is its merkle_root.
	OK bool
	// Rows counts the exported rows in the seal's window (read from the
	// files), WindowRows the rows the seal covers (its row_counts).
	Rows, WindowRows int64
}

// String describes the check in one line, e.g. "seal 3: checked, 120
// rows, Merkle root matches" or "seal 4: not checked (the export holds 7
// of 12 rows of its window)".
func (c SealCheck) String() string {
	switch {
	case c.Checked && c.OK:
		return fmt.Sprintf("seal %d: checked, %d rows, Merkle root matches", c.ID, c.Rows)
	case c.Checked:
		return fmt.Sprintf("seal %d: checked, %d rows: TAMPERED", c.ID, c.Rows)
	case c.OK:
		return fmt.Sprintf("seal %d: not checked (the export holds %d of %d rows of its window)", c.ID, c.Rows, c.WindowRows)
	default:
		return fmt.Sprintf("seal %d: not checked (the export holds %d of %d rows of its window): TAMPERED", c.ID, c.Rows, c.WindowRows)
	}
}

// sealChecker checks the manifest's seals: their hashes and chain when
// created, then, fed every exported row in canonical table order and id
// order, each complete seal's Merkle root. A row's leaf goes to the tree
// of the seal whose window holds its tx_id, so every seal receives its
// leaves in seal order (tables in order, ids in order) and only one
// streaming Merkle stack per seal is kept.
type sealChecker struct {
	r     *Result
	m     *Manifest
	seals []Seal
	bad   []bool // per seal: a problem was reported
	// usable reports that the seals' windows are in order and disjoint, so
	// every row belongs to at most one of them.
	usable bool
	trees  []canon.Tree
	counts [][]int64 // per seal, exported rows per table
	// unsealed counts rows at or above the head's horizon_to (all rows
	// without a head); stray the rows below it that no listed seal holds.
	unsealed, stray int64
	strayTx         int64 // a stray row's tx_id, for the report
	last            int   // the seal the previous row fell in
	leaf            []byte
}

func newSealChecker(r *Result, m *Manifest) *sealChecker {
	c := &sealChecker{r: r, m: m, seals: m.Seals, usable: true, last: -1,
		bad: make([]bool, len(m.Seals)), trees: make([]canon.Tree, len(m.Seals)), counts: make([][]int64, len(m.Seals))}
	for i := range c.counts {
		c.counts[i] = make([]int64, len(canon.Tables))
	}
	var zero canon.Hash
	for i := range c.seals {
		s := &c.seals[i]
		h, err := s.Header()
		if err != nil {
			c.problem(i, "%v", err)
			continue
		}
		if s.Version < canon.FirstVersion || s.Version > canon.Version {
			c.problem(i, "version %d: this rac checks canonical encoding versions %d to %d", s.Version, canon.FirstVersion, canon.Version)
		}
		if sealHash, err := canon.ParseHash(s.SealHash); err != nil {
			c.problem(i, "seal_hash: %v", err)
		} else if err := h.Check(sealHash); err != nil {
			c.problem(i, "%v", err)
		}
		if s.ID == 1 && (s.HorizonFrom != 0 || h.PrevHash != zero) {
			c.problem(i, "seal 1 must start at horizon 0 with a zero prev_hash")
		}
		if s.HorizonFrom >= s.HorizonTo {
			c.problem(i, "empty window [%d, %d)", s.HorizonFrom, s.HorizonTo)
			c.usable = false
		}
		if i == 0 {
			continue
		}
		p := &c.seals[i-1]
		if s.ID <= p.ID || s.HorizonFrom < p.HorizonTo {
			c.problem(i, "not after seal %d: seals must be listed in id order with disjoint windows", p.ID)
			c.usable = false
			continue
		}
		if s.ID == p.ID+1 {
			if s.PrevHash != p.SealHash {
				c.problem(i, "prev_hash %s is not seal %d's seal_hash %s", s.PrevHash, p.ID, p.SealHash)
			}
			if s.HorizonFrom != p.HorizonTo {
				c.problem(i, "horizon_from %d is not seal %d's horizon_to %d", s.HorizonFrom, p.ID, p.HorizonTo)
			}
		}
	}
	c.checkHead()
	c.checkSealRange()
	return c
}

// problem reports a problem with the i-th listed seal.
func (c *sealChecker) problem(i int, format string, args ...any) {
	c.bad[i] = true
	c.r.Problems = append(c.r.Problems, Problem{File: ManifestName, Seal: c.seals[i].ID, Detail: fmt.Sprintf(format, args...)})
}

// checkHead checks the listed seals against seal_head.
func (c *sealChecker) checkHead() {
	head := c.m.SealHead
	if head == nil {
		if len(c.seals) > 0 {
			c.r.problem(ManifestName, "seals are listed but seal_head is null")
		}
		return
	}
	for i := range c.seals {
		s := &c.seals[i]
		switch {
		case s.ID > head.ID:
			c.problem(i, "after seal_head %d", head.ID)
		case s.ID == head.ID && (s.SealHash != head.SealHash || s.HorizonTo != head.HorizonTo):
			c.problem(i, "differs from seal_head (seal_hash %s, horizon_to %d)", head.SealHash, head.HorizonTo)
		}
	}
}

// checkSealRange checks what a seal-range manifest promises: exactly the
// seals of the range, whose windows its tx_id bounds span, and, without a
// tenant filter, every one complete.
func (c *sealChecker) checkSealRange() {
	rg := c.m.Range
	if rg.Kind != RangeSeals {
		return
	}
	if rg.FromSeal == nil || rg.ToSeal == nil || rg.TxIDFrom == nil || rg.TxIDTo == nil {
		c.r.problem(ManifestName, "seal range without from_seal, to_seal, tx_id_from and tx_id_to")
		return
	}
	n := len(c.seals)
	if n == 0 || c.seals[0].ID != *rg.FromSeal || c.seals[n-1].ID != *rg.ToSeal || int64(n) != *rg.ToSeal-*rg.FromSeal+1 {
		c.r.problem(ManifestName, "seal range %d..%d does not list exactly those seals", *rg.FromSeal, *rg.ToSeal)
		return
	}
	if c.seals[0].HorizonFrom != *rg.TxIDFrom || c.seals[n-1].HorizonTo != *rg.TxIDTo {
		c.r.problem(ManifestName, "seal range tx_id bounds [%d, %d) are not the seals' windows [%d, %d)",
			*rg.TxIDFrom, *rg.TxIDTo, c.seals[0].HorizonFrom, c.seals[n-1].HorizonTo)
	}
	if c.m.Tenant == nil {
		for i := range c.seals {
			if !c.seals[i].Complete {
				c.problem(i, "not complete in a seal-range export of every tenant")
			}
		}
	}
}

// find returns the index of the listed seal whose window holds tx, or -1.
func (c *sealChecker) find(tx int64) int {
	in := func(i int) bool { return c.seals[i].HorizonFrom <= tx && tx < c.seals[i].HorizonTo }
	if c.last >= 0 && in(c.last) {
		return c.last
	}
	i := sort.Search(len(c.seals), func(i int) bool { return c.seals[i].HorizonTo > tx })
	if i < len(c.seals) && in(i) {
		c.last = i
		return i
	}
	return -1
}

// row takes the next exported row of table ti (an index into canon.Tables);
// tables must come in canonical order, each in id order. An error is a
// value the canonical encoding refuses.
func (c *sealChecker) row(ti int, v *rowValues) error {
	tx := v.txID()
	i := -1
	if c.usable {
		i = c.find(tx)
	}
	if i < 0 {
		head := c.m.SealHead
		if head == nil || tx >= head.HorizonTo {
			c.unsealed++
		} else if c.usable {
			if c.stray == 0 {
				c.strayTx = tx
			}
			c.stray++
		}
		return nil
	}
	c.counts[i][ti]++
	if c.bad[i] && (c.seals[i].Version < canon.FirstVersion || c.seals[i].Version > canon.Version) {
		return nil // reported: no leaves to compare in an unknown encoding
	}
	var err error
	// Each seal's leaves are in its own encoding version: an export of
	// today's columns checks against a seal made before some existed.
	if c.leaf, err = v.t.AppendLeafAt(c.leaf[:0], c.seals[i].Version, v.vals); err != nil {
		return err
	}
	c.trees[i].Add(canon.LeafHash(c.leaf))
	return nil
}

// finish compares what the files held with each seal and the manifest,
// and records every seal's check in the result.
func (c *sealChecker) finish(files map[int]string) {
	if c.usable && c.unsealed != c.m.UnsealedRows {
		c.r.problem(ManifestName, "%d exported rows lie above the seal head's window, unsealed_rows says %d", c.unsealed, c.m.UnsealedRows)
	}
	if c.stray > 0 {
		c.r.problem(ManifestName, "%d exported rows (e.g. tx_id %d) lie below the seal head's horizon in no listed seal", c.stray, c.strayTx)
	}
	for i := range c.seals {
		s := &c.seals[i]
		chk := SealCheck{ID: s.ID}
		full := c.usable
		var diffs []string
		for ti, want := range s.RowCounts {
			got := c.counts[i][ti]
			chk.Rows += got
			chk.WindowRows += want
			if got != want {
				full = false
				name := files[ti]
				if name == "" {
					name = canon.Tables[ti].Stem + " (no file)"
				}
				diffs = append(diffs, fmt.Sprintf("%s holds %d of its %d rows", name, got, want))
			}
		}
		switch {
		case !c.usable:
		case s.Complete && !full:
			c.problem(i, "marked complete, but %s", strings.Join(diffs, ", "))
		case !s.Complete && full:
			c.problem(i, "marked incomplete, but the export holds all %d rows of its window", chk.Rows)
		}
		if full {
			chk.Checked = true
			if got := c.trees[i].Root().String(); got != s.MerkleRoot {
				c.problem(i, "the Merkle root of its %d exported rows is %s, merkle_root says %s", chk.Rows, got, s.MerkleRoot)
			}
		}
		chk.OK = !c.bad[i]
		c.r.Seals = append(c.r.Seals, chk)
	}
}
