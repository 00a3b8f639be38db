package export

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/racledger/racledger/internal/canon"
)

// cell holds one scanned value; which field is used depends on the
// column's canonical type.
type cell struct {
	i  pgtype.Int8
	b  pgtype.Bool
	u  pgtype.UUID
	ts pgtype.Timestamptz
	s  pgtype.Text
}

// valid reports whether the cell holds a value (not NULL) for typ.
func (c *cell) valid(typ canon.Type) bool {
	switch typ {
	case canon.Int8:
		return c.i.Valid
	case canon.Bool:
		return c.b.Valid
	case canon.UUID:
		return c.u.Valid
	case canon.Timestamptz:
		return c.ts.Valid
	default:
		return c.s.Valid
	}
}

// micros returns the cell's timestamp in microseconds since the Unix
// epoch; infinite timestamps have no place in the ledger and are refused.
func (c *cell) micros() (int64, error) {
	if c.ts.InfinityModifier != pgtype.Finite {
		return 0, fmt.Errorf("infinite timestamp")
	}
	return c.ts.Time.UnixMicro(), nil
}

// rowSink receives the rows of one table, in order.
type rowSink interface {
	writeRow(cells []cell) error
	close() error
}

// streamRows runs query on tx and hands every row to sink, one at a time;
// pgx reads rows from the connection as they are consumed, so memory
// does not grow with the number of rows.
func streamRows(ctx context.Context, tx pgx.Tx, t *canon.Table, query string, args []any, sink rowSink, prog *progress) (int64, error) {
	cells := make([]cell, len(t.Columns))
	dest := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		switch c.Type {
		case canon.Int8:
			dest[i] = &cells[i].i
		case canon.Bool:
			dest[i] = &cells[i].b
		case canon.UUID:
			dest[i] = &cells[i].u
		case canon.Timestamptz:
			dest[i] = &cells[i].ts
		case canon.Text, canon.JSONB:
			dest[i] = &cells[i].s
		default:
			return 0, fmt.Errorf("%s.%s: unsupported column type %q", t.Stem, c.Name, c.Type)
		}
	}
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", t.Name, err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, fmt.Errorf("read %s: %w", t.Name, err)
		}
		if err := sink.writeRow(cells); err != nil {
			return n, fmt.Errorf("write %s row %d: %w", t.Stem, n+1, err)
		}
		n++
		prog.row()
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read %s: %w", t.Name, err)
	}
	if err := sink.close(); err != nil {
		return n, fmt.Errorf("write %s: %w", t.Stem, err)
	}
	return n, nil
}

// rfc3339Micro is how JSON Lines writes timestamps: RFC 3339 in UTC with
// exactly six fractional digits.
const rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

// appendTimestamp appends micros (since the Unix epoch) as rfc3339Micro in UTC.
func appendTimestamp(dst []byte, micros int64) []byte {
	return time.UnixMicro(micros).UTC().AppendFormat(dst, rfc3339Micro)
}
