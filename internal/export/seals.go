package export

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/db"
	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/evidence"
)

// coverSQL counts, per seal, the rows of one table that an export holds:
// the exported rows are grouped by tx_id, and each tx_id is matched to the
// seal whose window [horizon_from, horizon_to) holds it, found through the
// unique index on horizon_from (the latest seal starting at or below it).
// A NULL seal id counts the rows no seal covers yet. %s is the FROM and
// WHERE clause of the export's SELECT, the second the seals' relation.
const coverSQL = `
SELECT s.id, sum(g.n)::int8
FROM (SELECT x.tx_id::int8 AS tx_id, count(*) AS n
      %s
      GROUP BY 1) g
LEFT JOIN LATERAL (SELECT id, horizon_to FROM %s
                   WHERE horizon_from <= g.tx_id
                   ORDER BY horizon_from DESC LIMIT 1) s ON g.tx_id < s.horizon_to
GROUP BY s.id`

// addSeals fills the manifest's seals, seal_head and unsealed_rows, read
// in the export's snapshot, so they describe exactly the rows exported:
// for a time range the seals whose window holds at least one exported
// row, for a seal range every seal of the range; each marked complete
// when the export holds every row of its window in every table.
func (e *exporter) addSeals(ctx context.Context, tx pgx.Tx, m *Manifest) error {
	exported := map[int64][]int64{} // seal id -> exported rows per table
	m.UnsealedRows = 0
	for i := range canon.Tables {
		t := &canon.Tables[i]
		if e.opts.Tenant != "" && !tenantScoped(t) {
			continue // omitted
		}
		var args params
		query := fmt.Sprintf(coverSQL, t.FromWhereIn(e.src, e.filter(t, args.bind)), evidence.SealsRelation(e.src)) // before args is read
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("count %s rows per seal: %w", t.Name, err)
		}
		for rows.Next() {
			var (
				id *int64
				n  int64
			)
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return fmt.Errorf("count %s rows per seal: %w", t.Name, err)
			}
			if id == nil {
				m.UnsealedRows += n
				continue
			}
			if exported[*id] == nil {
				exported[*id] = make([]int64, len(canon.Tables))
			}
			exported[*id][i] += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("count %s rows per seal: %w", t.Name, err)
		}
	}

	if e.opts.Seals != nil {
		m.Seals = make([]Seal, 0, len(e.seals))
		for _, r := range e.seals {
			s, err := sealFromDB(r, exported)
			if err != nil {
				return fmt.Errorf("read seals: %w", err)
			}
			m.Seals = append(m.Seals, s)
		}
	} else {
		ids := make([]int64, 0, len(exported))
		for id := range exported {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		rows, err := evidence.SealsByIDs(ctx, tx, e.src, ids)
		if err != nil {
			return fmt.Errorf("read seals: %w", err)
		}
		m.Seals = make([]Seal, 0, len(rows))
		for _, r := range rows {
			s, err := sealFromDB(r, exported)
			if err != nil {
				return fmt.Errorf("read seals: %w", err)
			}
			m.Seals = append(m.Seals, s)
		}
	}

	m.SealHead = nil
	if e.head != nil {
		m.SealHead = &SealHead{ID: e.head.ID, SealHash: hex.EncodeToString(e.head.SealHash), HorizonTo: e.head.HorizonTo}
	}
	return nil
}

// sealFromDB converts a rac.seals row to the manifest's Seal, complete
// when exported (rows exported per seal id and table) holds every row of
// its window.
func sealFromDB(r db.RacSeal, exported map[int64][]int64) (Seal, error) {
	if len(r.RowCounts) != len(canon.Tables) {
		return Seal{}, fmt.Errorf("seal %d has %d row counts for %d tables", r.ID, len(r.RowCounts), len(canon.Tables))
	}
	got := exported[r.ID]
	return Seal{
		ID:          r.ID,
		Version:     r.Version,
		HorizonFrom: r.HorizonFrom,
		HorizonTo:   r.HorizonTo,
		RowCounts:   r.RowCounts,
		MerkleRoot:  hex.EncodeToString(r.MerkleRoot),
		PrevHash:    hex.EncodeToString(r.PrevHash),
		SealHash:    hex.EncodeToString(r.SealHash),
		SealedAt:    r.SealedAt.UTC(),
		Complete:    got != nil && slices.Equal(got, r.RowCounts),
	}, nil
}

// readSeals reads, in the export's snapshot, the head of the seal chain
// and, for a seal range, its seals and tx_id bounds; an unknown seal is
// the caller's error.
func (e *exporter) readSeals(ctx context.Context, tx pgx.Tx) error {
	head, err := evidence.SealHead(ctx, tx, e.src)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		e.head = nil
	case err != nil:
		return fmt.Errorf("read the seal head: %w", err)
	default:
		e.head = &head
	}
	if e.opts.Seals == nil {
		return nil
	}
	r := e.opts.Seals
	seals, err := evidence.SealsBetween(ctx, tx, e.src, r.From, r.To)
	if err != nil {
		return fmt.Errorf("read seals %s: %w", r, err)
	}
	// Seal r.From, if it exists, is the first of the range, r.To the last.
	if len(seals) == 0 || seals[0].ID != r.From || seals[len(seals)-1].ID != r.To {
		chain := "the ledger has no seal"
		if e.head != nil {
			chain = fmt.Sprintf("the chain holds seals 1..%d", e.head.ID)
		}
		return fmt.Errorf("%w: seal range %s: %s", ErrInvalid, r, chain)
	}
	e.seals = seals
	e.txFrom, e.txTo = seals[0].HorizonFrom, seals[len(seals)-1].HorizonTo
	return nil
}
