package export

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/internal/canon"
)

// coverSQL counts, per seal, the rows of one table that an export holds:
// the exported rows are grouped by tx_id, and each tx_id is matched to the
// seal whose window [horizon_from, horizon_to) holds it, found through the
// unique index on horizon_from (the latest seal starting at or below it).
// A NULL seal id counts the rows no seal covers yet. %s is the FROM and
// WHERE clause of the export's SELECT.
const coverSQL = `
SELECT s.id, sum(g.n)::int8
FROM (SELECT x.tx_id::int8 AS tx_id, count(*) AS n
      %s
      GROUP BY 1) g
LEFT JOIN LATERAL (SELECT id, horizon_to FROM rac.seals
                   WHERE horizon_from <= g.tx_id
                   ORDER BY horizon_from DESC LIMIT 1) s ON g.tx_id < s.horizon_to
GROUP BY s.id`

// sealColumns are rac.seals' columns as Seal reads them.
const sealColumns = `id, version, horizon_from, horizon_to, row_counts, merkle_root, prev_hash, seal_hash, sealed_at`

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
		cond, tenant, args := e.filter(t)
		rows, err := tx.Query(ctx, fmt.Sprintf(coverSQL, fromWhereSQL(t, cond, tenant)), args...)
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

	var (
		query string
		args  []any
	)
	if e.opts.Seals != nil {
		query, args = `SELECT `+sealColumns+` FROM rac.seals WHERE id BETWEEN $1 AND $2 ORDER BY id`,
			[]any{e.opts.Seals.From, e.opts.Seals.To}
	} else {
		ids := make([]int64, 0, len(exported))
		for id := range exported {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		query, args = `SELECT `+sealColumns+` FROM rac.seals WHERE id = ANY($1) ORDER BY id`, []any{ids}
	}
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read seals: %w", err)
	}
	m.Seals, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Seal, error) {
		var (
			s                Seal
			root, prev, hash []byte
			counts           []int64
			sealedAt         time.Time
		)
		if err := row.Scan(&s.ID, &s.Version, &s.HorizonFrom, &s.HorizonTo, &counts, &root, &prev, &hash, &sealedAt); err != nil {
			return s, err
		}
		if len(counts) != len(canon.Tables) {
			return s, fmt.Errorf("seal %d has %d row counts for %d tables", s.ID, len(counts), len(canon.Tables))
		}
		s.RowCounts = counts
		s.MerkleRoot, s.PrevHash, s.SealHash = hex.EncodeToString(root), hex.EncodeToString(prev), hex.EncodeToString(hash)
		s.SealedAt = sealedAt.UTC()
		got := exported[s.ID]
		s.Complete = got != nil && slices.Equal(got, counts)
		return s, nil
	})
	if err != nil {
		return fmt.Errorf("read seals: %w", err)
	}
	if m.Seals == nil {
		m.Seals = []Seal{}
	}

	var (
		head     SealHead
		headHash []byte
	)
	err = tx.QueryRow(ctx, `SELECT id, seal_hash, horizon_to FROM rac.seals ORDER BY id DESC LIMIT 1`).
		Scan(&head.ID, &headHash, &head.HorizonTo)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		m.SealHead = nil
	case err != nil:
		return fmt.Errorf("read the seal head: %w", err)
	default:
		head.SealHash = hex.EncodeToString(headHash)
		m.SealHead = &head
	}
	return nil
}
