package seal

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/evidence"
)

// fetchSize is the number of rows one FETCH returns; it is also the size of
// a seal_chunks row (8 bytes per row: 64 KiB of prefixes).
const fetchSize = 8192

// leafRow is one canonical row reduced to what sealing needs.
type leafRow struct {
	id   int64
	hash canon.Hash
}

// leafCursor streams the canonical rows of one table's tx_id window, in id
// order, through a server-side cursor of the caller's transaction.
//
// Raw SQL rather than sqlc: a sqlc :many query loads every row into memory,
// and rows.Next on a plain query holds the connection until the result is
// drained. A cursor keeps memory at one FETCH whatever the ledger's size and
// lets other statements (chunk inserts while sealing, the hint cursor while
// locating) run on the same connection between fetches.
type leafCursor struct {
	tx    pgx.Tx
	table *canon.Table // with the columns of the seal's encoding version
	name  string
	enc   []byte
	batch []leafRow
	pos   int
	done  bool
	// keepID, when non-zero, asks the cursor to keep the leaf data of the
	// row with that id (for an inclusion proof) in kept.
	keepID int64
	kept   []byte
}

// openLeafCursor declares a cursor over table's rows with from <= tx_id < to,
// read from src.
func openLeafCursor(ctx context.Context, tx pgx.Tx, src canon.Source, table *canon.Table, name string, from, to int64) (*leafCursor, error) {
	query := table.Select
	if src != canon.FromTables {
		query = table.SelectIn(src, "x.tx_id >= $1 AND x.tx_id < $2")
	}
	if _, err := tx.Exec(ctx, "DECLARE "+name+" NO SCROLL CURSOR FOR "+query, from, to); err != nil {
		return nil, fmt.Errorf("open cursor on %s: %w", table.Name, err)
	}
	return &leafCursor{tx: tx, table: table, name: name}, nil
}

// fetch returns the next batch of rows, empty once the window is done. The
// slice is reused by the next call.
func (c *leafCursor) fetch(ctx context.Context) ([]leafRow, error) {
	c.batch = c.batch[:0]
	c.pos = 0
	if c.done {
		return c.batch, nil
	}
	// FETCH has no result description before it runs, so it goes over the
	// simple protocol: pgx then decodes by the columns' types as it reads.
	rows, err := c.tx.Query(ctx, fmt.Sprintf("FETCH FORWARD %d FROM %s", fetchSize, c.name), pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", c.table.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.table.Name, err)
		}
		id, ok := vals[0].(int64)
		if !ok {
			return nil, fmt.Errorf("read %s: id is %T", c.table.Name, vals[0])
		}
		c.enc, err = c.table.AppendLeaf(c.enc[:0], vals)
		if err != nil {
			return nil, fmt.Errorf("row %s id %d: %w", c.table.Stem, id, err)
		}
		if c.keepID != 0 && id == c.keepID {
			c.kept = append([]byte(nil), c.enc...)
		}
		c.batch = append(c.batch, leafRow{id: id, hash: canon.LeafHash(c.enc)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", c.table.Name, err)
	}
	if len(c.batch) < fetchSize {
		c.done = true
	}
	return c.batch, nil
}

// next returns the next row, or false once the window is done.
func (c *leafCursor) next(ctx context.Context) (leafRow, bool, error) {
	if c.pos == len(c.batch) {
		if _, err := c.fetch(ctx); err != nil {
			return leafRow{}, false, err
		}
		if len(c.batch) == 0 {
			return leafRow{}, false, nil
		}
	}
	r := c.batch[c.pos]
	c.pos++
	return r, true, nil
}

// close closes the cursor.
func (c *leafCursor) close(ctx context.Context) error {
	if _, err := c.tx.Exec(ctx, "CLOSE "+c.name); err != nil {
		return fmt.Errorf("close cursor on %s: %w", c.table.Name, err)
	}
	return nil
}

// rowKey names row id of canon.Tables[table]; an id of 0 names no row.
type rowKey struct {
	table int
	id    int64
}

// window is what streaming a seal window computed.
type window struct {
	// tree holds the leaves of the window's rows, table by table in
	// canon.Tables order, each table in id order.
	tree canon.Tree
	// counts holds the number of rows per table, in canon.Tables order.
	counts []int64
	// kept is the leaf data of the row streamWindow was asked to keep; nil
	// when none was asked for or the window does not hold it.
	kept []byte
}

// streamWindow streams the canonical rows with from <= tx_id < to of every
// ledger table, read from src and encoded with version (the seal's), in
// seal order, through a cursor called name of tx, one table at a time. It calls each, when not nil, with every batch of rows
// (the slice is reused afterwards) and returns the window's tree and
// counts, and the leaf data of row keep.
func streamWindow(ctx context.Context, tx pgx.Tx, src canon.Source, name string, version int16, from, to int64, keep rowKey, each func(table int, batch []leafRow) error) (window, error) {
	tables, err := canon.TablesAt(version)
	if err != nil {
		return window{}, err
	}
	w := window{counts: make([]int64, len(tables))}
	for i := range tables {
		cur, err := openLeafCursor(ctx, tx, src, &tables[i], name, from, to)
		if err != nil {
			return window{}, err
		}
		if i == keep.table {
			cur.keepID = keep.id
		}
		for {
			batch, err := cur.fetch(ctx)
			if err != nil {
				return window{}, err
			}
			if len(batch) == 0 {
				break
			}
			if each != nil {
				if err := each(i, batch); err != nil {
					return window{}, err
				}
			}
			for _, r := range batch {
				w.tree.Add(r.hash)
			}
			w.counts[i] += int64(len(batch))
		}
		if i == keep.table {
			w.kept = cur.kept
		}
		if err := cur.close(ctx); err != nil {
			return window{}, err
		}
	}
	return w, nil
}

// prefixCursor streams the stored 8-byte leaf-hash prefixes of one table of
// one seal (rac.seal_chunks), chunk by chunk, through a cursor of the
// caller's transaction.
type prefixCursor struct {
	tx   pgx.Tx
	name string
	buf  []byte
	done bool
}

// openPrefixCursor declares a cursor over the stored prefixes of one table
// of one seal, read from src.
func openPrefixCursor(ctx context.Context, tx pgx.Tx, src canon.Source, name string, sealID int64, table string) (*prefixCursor, error) {
	_, err := tx.Exec(ctx, "DECLARE "+name+` NO SCROLL CURSOR FOR
		SELECT leaf_prefixes FROM `+evidence.ChunksRelation(src)+` WHERE seal_id = $1 AND table_name = $2 ORDER BY chunk_no`,
		sealID, table)
	if err != nil {
		return nil, fmt.Errorf("open hint cursor: %w", err)
	}
	return &prefixCursor{tx: tx, name: name}, nil
}

// next returns the next stored prefix, or false when there is none.
func (c *prefixCursor) next(ctx context.Context) ([8]byte, bool, error) {
	var p [8]byte
	for len(c.buf) < 8 {
		if c.done {
			return p, false, nil
		}
		var chunk []byte
		err := c.tx.QueryRow(ctx, "FETCH NEXT FROM "+c.name, pgx.QueryExecModeSimpleProtocol).Scan(&chunk)
		if err == pgx.ErrNoRows {
			c.done = true
			continue
		}
		if err != nil {
			return p, false, fmt.Errorf("fetch hints: %w", err)
		}
		c.buf = chunk
	}
	copy(p[:], c.buf[:8])
	c.buf = c.buf[8:]
	return p, true, nil
}

// close closes the cursor.
func (c *prefixCursor) close(ctx context.Context) error {
	if _, err := c.tx.Exec(ctx, "CLOSE "+c.name); err != nil {
		return fmt.Errorf("close hint cursor: %w", err)
	}
	return nil
}

func prefixOf(h canon.Hash) [8]byte {
	var p [8]byte
	copy(p[:], h[:8])
	return p
}
