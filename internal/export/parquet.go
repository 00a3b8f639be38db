package export

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/racledger/racledger/internal/canon"
)

// ParquetRowGroupRows bounds the rows of one Parquet row group: the writer
// buffers a row group's columns in memory before writing it, so this
// bounds the memory a Parquet export needs, whatever its size.
const ParquetRowGroupRows = 64 * 1024

// parquetCreatedBy is the created_by of every exported Parquet file. It
// carries no time and no build id, so identical rows give identical bytes.
const parquetCreatedBy = "rac export (canonical encoding v1)"

// parquetBatch is how many rows are handed to the Parquet writer at once.
const parquetBatch = 256

// parquetNode returns the Parquet type of a canonical column: int8 as
// INT64, bool as BOOLEAN, uuid as FIXED_LEN_BYTE_ARRAY(16) with the UUID
// logical type, timestamptz as INT64 TIMESTAMP(MICROS, UTC), text as
// STRING, jsonb as JSON; nullable columns are OPTIONAL, others REQUIRED.
func parquetNode(c canon.Column) (parquet.Node, error) {
	var n parquet.Node
	switch c.Type {
	case canon.Int8:
		n = parquet.Int(64)
	case canon.Bool:
		n = parquet.Leaf(parquet.BooleanType)
	case canon.UUID:
		n = parquet.UUID()
	case canon.Timestamptz:
		n = parquet.Timestamp(parquet.Microsecond)
	case canon.Text:
		n = parquet.String()
	case canon.JSONB:
		n = parquet.JSON()
	default:
		return nil, fmt.Errorf("column %s: unsupported type %q", c.Name, c.Type)
	}
	if c.Nullable {
		return parquet.Optional(n), nil
	}
	return parquet.Required(n), nil
}

// ParquetSchema returns the Parquet schema of t's export file: its
// canonical columns, in canonical order.
func ParquetSchema(t *canon.Table) (*parquet.Schema, error) {
	g := orderedGroup{}
	for _, c := range t.Columns {
		n, err := parquetNode(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Stem, err)
		}
		g = append(g, orderedField{Node: n, name: c.Name})
	}
	return parquet.NewSchema(t.Stem, g), nil
}

// createdBy is a writer option that sets the file's created_by string
// verbatim.
type createdBy string

func (c createdBy) ConfigureWriter(cfg *parquet.WriterConfig) { cfg.CreatedBy = string(c) }

// parquetSink writes rows to a Parquet file in bounded row groups.
type parquetSink struct {
	w     *parquet.GenericWriter[any]
	cols  []canon.Column
	batch []parquet.Row
}

func newParquetSink(w io.Writer, t *canon.Table) (*parquetSink, error) {
	schema, err := ParquetSchema(t)
	if err != nil {
		return nil, err
	}
	cfg, err := parquet.NewWriterConfig(
		schema,
		createdBy(parquetCreatedBy),
		parquet.MaxRowsPerRowGroup(ParquetRowGroupRows),
		parquet.Compression(&parquet.Snappy),
	)
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &parquetSink{
		w:     parquet.NewGenericWriter[any](w, cfg),
		cols:  t.Columns,
		batch: make([]parquet.Row, 0, parquetBatch),
	}, nil
}

func (s *parquetSink) writeRow(cells []cell) error {
	row := make(parquet.Row, len(s.cols))
	for i, c := range s.cols {
		cl := &cells[i]
		if !cl.valid(c.Type) {
			row[i] = parquet.NullValue().Level(0, 0, i)
			continue
		}
		var v parquet.Value
		switch c.Type {
		case canon.Int8:
			v = parquet.Int64Value(cl.i.Int64)
		case canon.Bool:
			v = parquet.BooleanValue(cl.b.Bool)
		case canon.UUID:
			u := cl.u.Bytes
			v = parquet.FixedLenByteArrayValue(u[:])
		case canon.Timestamptz:
			us, err := cl.micros()
			if err != nil {
				return err
			}
			v = parquet.Int64Value(us)
		default:
			v = parquet.ByteArrayValue([]byte(cl.s.String))
		}
		def := 0
		if c.Nullable {
			def = 1
		}
		row[i] = v.Level(0, def, i)
	}
	s.batch = append(s.batch, row)
	if len(s.batch) == cap(s.batch) {
		return s.flushBatch()
	}
	return nil
}

func (s *parquetSink) flushBatch() error {
	if len(s.batch) == 0 {
		return nil
	}
	_, err := s.w.WriteRows(s.batch)
	clear(s.batch)
	s.batch = s.batch[:0]
	return err
}

func (s *parquetSink) close() error {
	if err := s.flushBatch(); err != nil {
		return err
	}
	return s.w.Close()
}

// orderedGroup is a Parquet group whose fields keep the order they are
// given in (parquet.Group sorts them by name), so a file's columns come in
// canonical order.
type orderedGroup []orderedField

type orderedField struct {
	parquet.Node
	name string
}

func (f orderedField) Name() string { return f.name }

// Value is only used to deconstruct Go values, which the export never
// does: it writes parquet.Row values directly.
func (f orderedField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Struct {
		return base.FieldByName(exportedName(f.name))
	}
	return reflect.Value{}
}

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return fmt.Sprintf("group(%d fields)", len(g)) }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) Fields() []parquet.Field {
	fields := make([]parquet.Field, len(g))
	for i := range g {
		fields[i] = g[i]
	}
	return fields
}

// GoType returns a struct with one exported field per column.
func (g orderedGroup) GoType() reflect.Type {
	fields := make([]reflect.StructField, len(g))
	for i, f := range g {
		fields[i] = reflect.StructField{
			Name: exportedName(f.name),
			Type: f.GoType(),
			Tag:  reflect.StructTag(`parquet:"` + f.name + `"`),
		}
	}
	return reflect.StructOf(fields)
}

// exportedName turns a column name (tx_id) into a Go field name (Tx_id).
func exportedName(s string) string {
	return strings.ToUpper(s[:1]) + s[1:]
}
