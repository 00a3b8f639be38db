package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/racledger/racledger/internal/canon"
)

// rowValues holds the canonical values of one exported row, as
// canon.Table.AppendLeaf takes them: vals[i] is nil for NULL, else a
// pointer into cells, so decoding a row allocates nothing for the
// fixed-size types.
type rowValues struct {
	t     *canon.Table
	vals  []any
	cells []valueCell
}

type valueCell struct {
	i  int64
	b  bool
	u  uuid.UUID
	ts time.Time
	s  string
}

func newRowValues(t *canon.Table) *rowValues {
	return &rowValues{t: t, vals: make([]any, len(t.Columns)), cells: make([]valueCell, len(t.Columns))}
}

// id and txID return the row's first two canonical columns (id, tx_id),
// which every table has and which are never NULL once decoded.
func (v *rowValues) id() int64   { return v.cells[0].i }
func (v *rowValues) txID() int64 { return v.cells[1].i }

func (v *rowValues) setNull(i int) error {
	if !v.t.Columns[i].Nullable {
		return fmt.Errorf("column %s is NULL but not nullable", v.t.Columns[i].Name)
	}
	v.vals[i] = nil
	return nil
}

func (v *rowValues) setInt(i int, n int64)      { v.cells[i].i = n; v.vals[i] = &v.cells[i].i }
func (v *rowValues) setBool(i int, b bool)      { v.cells[i].b = b; v.vals[i] = &v.cells[i].b }
func (v *rowValues) setUUID(i int, u uuid.UUID) { v.cells[i].u = u; v.vals[i] = &v.cells[i].u }
func (v *rowValues) setTime(i int, t time.Time) { v.cells[i].ts = t; v.vals[i] = &v.cells[i].ts }
func (v *rowValues) setText(i int, s string)    { v.cells[i].s = s; v.vals[i] = &v.cells[i].s }

// setMicros sets a timestamp given in microseconds since the Unix epoch.
func (v *rowValues) setMicros(i int, us int64) { v.setTime(i, time.UnixMicro(us).UTC()) }

// rowDecoder reads the rows of one export file, in file order, into a
// rowValues. next returns io.EOF after the last row.
type rowDecoder interface {
	next(v *rowValues) error
}

// columnError names the column a value could not be decoded for.
func columnError(c canon.Column, err error) error {
	return fmt.Errorf("column %s (%s): %w", c.Name, c.Type, err)
}

// ---- CSV, as PostgreSQL's COPY (FORMAT csv, HEADER) writes it ----

// csvDecoder reads a CSV export file: a header that must be the canonical
// column names, then one record per row in PostgreSQL's text output with
// TimeZone UTC and DateStyle ISO: NULL an unquoted empty field, an empty
// string "", booleans t/f, timestamps 2026-01-31 12:00:00.123456+00
// (fractional zeros dropped), jsonb as PostgreSQL prints it.
type csvDecoder struct {
	r   *csvReader
	t   *canon.Table
	row int64
}

func newCSVDecoder(rd io.Reader, t *canon.Table) (*csvDecoder, error) {
	r := newCSVReader(rd)
	header, err := r.read()
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("no CSV header")
		}
		return nil, fmt.Errorf("no valid CSV header: %w", err)
	}
	names := make([]string, len(header))
	for i, f := range header {
		names[i] = string(r.bytes(f))
	}
	if !slices.Equal(names, t.ColumnNames()) {
		return nil, fmt.Errorf("CSV header %q is not the canonical columns %q", names, t.ColumnNames())
	}
	return &csvDecoder{r: r, t: t}, nil
}

func (d *csvDecoder) next(v *rowValues) error {
	fields, err := d.r.read()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("not valid CSV after %d rows: %w", d.row, err)
	}
	d.row++
	if len(fields) != len(d.t.Columns) {
		return fmt.Errorf("row %d: %d fields for %d columns", d.row, len(fields), len(d.t.Columns))
	}
	for i, c := range d.t.Columns {
		f := fields[i]
		b := d.r.bytes(f)
		if len(b) == 0 && !f.quoted {
			if err := v.setNull(i); err != nil {
				return fmt.Errorf("row %d: %w", d.row, err)
			}
			continue
		}
		if err := setFromText(v, i, c, b); err != nil {
			return fmt.Errorf("row %d: %w", d.row, columnError(c, err))
		}
	}
	return nil
}

// pgTimestampLayout parses PostgreSQL's ISO output of a timestamptz in UTC;
// time.Parse accepts any number of fractional digits after the seconds.
const pgTimestampLayout = "2006-01-02 15:04:05-07"

// setFromText sets column i from PostgreSQL's text output of its value.
func setFromText(v *rowValues, i int, c canon.Column, b []byte) error {
	switch c.Type {
	case canon.Int8:
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return err
		}
		v.setInt(i, n)
	case canon.Bool:
		switch string(b) {
		case "t":
			v.setBool(i, true)
		case "f":
			v.setBool(i, false)
		default:
			return fmt.Errorf("%q is not t or f", b)
		}
	case canon.UUID:
		u, err := parseUUID(b)
		if err != nil {
			return err
		}
		v.setUUID(i, u)
	case canon.Timestamptz:
		ts, err := time.Parse(pgTimestampLayout, string(b))
		if err != nil {
			return err
		}
		v.setTime(i, ts.UTC())
	case canon.Text, canon.JSONB:
		v.setText(i, string(b))
	default:
		return fmt.Errorf("unsupported type")
	}
	return nil
}

// parseUUID parses the canonical 8-4-4-4-12 form only.
func parseUUID(b []byte) (uuid.UUID, error) {
	if len(b) != 36 {
		return uuid.UUID{}, fmt.Errorf("%q is not a uuid", b)
	}
	return uuid.ParseBytes(b)
}

// ---- JSON Lines ----

// jsonlDecoder reads a JSON Lines export file: one JSON object per line
// whose keys are the canonical columns in order; int8 as integers, bool
// as true/false, uuid and timestamps (RFC 3339) as strings, text as
// strings, jsonb as raw JSON whose exact bytes are the value, NULL as
// null.
type jsonlDecoder struct {
	br   *bufio.Reader
	t    *canon.Table
	keys [][]byte // each column's name as a JSON string
	row  int64
	long []byte
}

func newJSONLDecoder(rd io.Reader, t *canon.Table) *jsonlDecoder {
	d := &jsonlDecoder{br: bufio.NewReaderSize(rd, 256<<10), t: t}
	for _, c := range t.Columns {
		d.keys = append(d.keys, appendJSONString(nil, c.Name))
	}
	return d
}

func (d *jsonlDecoder) next(v *rowValues) error {
	line, err := readLongLine(d.br, &d.long)
	if len(line) == 0 && err == io.EOF {
		return io.EOF
	}
	if err != nil && err != io.EOF {
		return err
	}
	d.row++
	if !bytes.HasSuffix(line, []byte("\n")) {
		return fmt.Errorf("line %d does not end in a newline", d.row)
	}
	if err := d.decodeLine(line, v); err != nil {
		return fmt.Errorf("line %d: %w", d.row, err)
	}
	return nil
}

// decodeLine decodes one line, which json.Valid must accept first: the
// scan below relies on the JSON being well formed.
func (d *jsonlDecoder) decodeLine(line []byte, v *rowValues) error {
	if !json.Valid(line) {
		return fmt.Errorf("not valid JSON")
	}
	p := skipSpace(line, 0)
	if line[p] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	p++
	names := func() string { return strings.Join(d.t.ColumnNames(), ",") }
	for i := 0; ; i++ {
		p = skipSpace(line, p)
		if line[p] == '}' {
			if i != len(d.t.Columns) {
				return fmt.Errorf("%d keys where the canonical columns %s expect %d", i, names(), len(d.t.Columns))
			}
			return nil
		}
		if i > 0 {
			p = skipSpace(line, p+1) // the comma
		}
		kEnd := stringEnd(line, p)
		key := line[p:kEnd]
		if i >= len(d.t.Columns) || !bytes.Equal(key, d.keys[i]) {
			return fmt.Errorf("key %s where the canonical columns %s expect %s", key, names(), nameAt(d.t.ColumnNames(), i))
		}
		p = skipSpace(line, kEnd)
		p = skipSpace(line, p+1) // the colon
		vEnd := valueEnd(line, p)
		if err := setFromJSON(v, i, d.t.Columns[i], line[p:vEnd]); err != nil {
			return columnError(d.t.Columns[i], err)
		}
		p = vEnd
	}
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}

// stringEnd returns the index after the JSON string starting at b[p].
func stringEnd(b []byte, p int) int {
	for p++; p < len(b); p++ {
		switch b[p] {
		case '\\':
			p++
		case '"':
			return p + 1
		}
	}
	return p
}

// valueEnd returns the index after the JSON value starting at b[p], which
// is well formed.
func valueEnd(b []byte, p int) int {
	switch b[p] {
	case '"':
		return stringEnd(b, p)
	case '{', '[':
		depth := 0
		for ; p < len(b); p++ {
			switch b[p] {
			case '"':
				p = stringEnd(b, p) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return p + 1
				}
			}
		}
		return p
	default: // number, true, false, null
		for p < len(b) && b[p] != ',' && b[p] != '}' && b[p] != ']' && b[p] != ' ' && b[p] != '\t' && b[p] != '\n' && b[p] != '\r' {
			p++
		}
		return p
	}
}

// setFromJSON sets column i from its JSON value raw.
func setFromJSON(v *rowValues, i int, c canon.Column, raw []byte) error {
	if string(raw) == "null" {
		return v.setNull(i)
	}
	switch c.Type {
	case canon.Int8:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("%s is not an integer", raw)
		}
		v.setInt(i, n)
	case canon.Bool:
		switch string(raw) {
		case "true":
			v.setBool(i, true)
		case "false":
			v.setBool(i, false)
		default:
			return fmt.Errorf("%s is not a boolean", raw)
		}
	case canon.UUID:
		s, err := jsonString(raw)
		if err != nil {
			return err
		}
		u, err := parseUUID([]byte(s))
		if err != nil {
			return err
		}
		v.setUUID(i, u)
	case canon.Timestamptz:
		s, err := jsonString(raw)
		if err != nil {
			return err
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		v.setTime(i, ts.UTC())
	case canon.Text:
		s, err := jsonString(raw)
		if err != nil {
			return err
		}
		v.setText(i, s)
	case canon.JSONB:
		v.setText(i, string(raw))
	default:
		return fmt.Errorf("unsupported type")
	}
	return nil
}

// jsonString decodes a JSON string value.
func jsonString(raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string", raw)
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// ---- Parquet ----

// parquetDecoder reads a Parquet export file's rows, row group by row
// group, checking each value's physical type against the canonical
// column's.
type parquetDecoder struct {
	t      *canon.Table
	groups []parquet.RowGroup
	rows   parquet.Rows
	buf    []parquet.Row
	pos, n int
	total  int64
	footer int64
}

func newParquetDecoder(ra io.ReaderAt, size int64, t *canon.Table) (d *parquetDecoder, err error) {
	defer recoverParquet(&err)
	pf, err := parquet.OpenFile(ra, size)
	if err != nil {
		return nil, fmt.Errorf("not a valid Parquet file: %w", err)
	}
	var cols []string
	for _, path := range pf.Schema().Columns() {
		cols = append(cols, strings.Join(path, "."))
	}
	if !slices.Equal(cols, t.ColumnNames()) {
		return nil, fmt.Errorf("parquet columns %q are not the canonical columns %q", cols, t.ColumnNames())
	}
	return &parquetDecoder{t: t, groups: pf.RowGroups(), buf: make([]parquet.Row, 256), footer: pf.NumRows()}, nil
}

// recoverParquet turns a panic of the Parquet reader on a corrupt file
// into an error: a finding about the file, not a crash.
func recoverParquet(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("not a valid Parquet file: %v", p)
	}
}

func (d *parquetDecoder) next(v *rowValues) (err error) {
	defer recoverParquet(&err)
	for d.pos == d.n {
		if err := d.fill(); err != nil {
			return err
		}
	}
	row := d.buf[d.pos]
	d.pos++
	if len(row) != len(d.t.Columns) {
		return fmt.Errorf("row %d: %d values for %d columns", d.total, len(row), len(d.t.Columns))
	}
	for i, c := range d.t.Columns {
		pv := row[i]
		if pv.Column() != i {
			return fmt.Errorf("row %d: value of column %d where %s was expected", d.total, pv.Column(), c.Name)
		}
		if pv.IsNull() {
			if err := v.setNull(i); err != nil {
				return fmt.Errorf("row %d: %w", d.total, err)
			}
			continue
		}
		if err := setFromParquet(v, i, c, pv); err != nil {
			return fmt.Errorf("row %d: %w", d.total, columnError(c, err))
		}
	}
	return nil
}

// fill reads the next batch of rows; io.EOF after the last row group.
func (d *parquetDecoder) fill() error {
	for {
		if d.rows == nil {
			if len(d.groups) == 0 {
				if d.total != d.footer {
					return fmt.Errorf("row groups hold %d rows, the Parquet footer says %d", d.total, d.footer)
				}
				return io.EOF
			}
			d.rows = d.groups[0].Rows()
			d.groups = d.groups[1:]
		}
		k, err := d.rows.ReadRows(d.buf)
		d.pos, d.n = 0, k
		d.total += int64(k)
		if err == io.EOF {
			if cerr := d.rows.Close(); cerr != nil {
				return fmt.Errorf("not a valid Parquet file: %w", cerr)
			}
			d.rows = nil
			err = nil
		}
		if err != nil {
			_ = d.rows.Close()
			d.rows = nil
			return fmt.Errorf("not a valid Parquet file: %w", err)
		}
		if k > 0 {
			return nil
		}
	}
}

// parquetKind is the physical type the export writes for a canonical type.
func parquetKind(t canon.Type) parquet.Kind {
	switch t {
	case canon.Int8, canon.Timestamptz:
		return parquet.Int64
	case canon.Bool:
		return parquet.Boolean
	case canon.UUID:
		return parquet.FixedLenByteArray
	default:
		return parquet.ByteArray
	}
}

// setFromParquet sets column i from a non-null Parquet value, whose kind
// must be the one the export writes for the canonical type.
func setFromParquet(v *rowValues, i int, c canon.Column, pv parquet.Value) error {
	if want := parquetKind(c.Type); pv.Kind() != want {
		return fmt.Errorf("parquet %s value, want %s", pv.Kind(), want)
	}
	switch c.Type {
	case canon.Int8:
		v.setInt(i, pv.Int64())
	case canon.Bool:
		v.setBool(i, pv.Boolean())
	case canon.UUID:
		b := pv.ByteArray()
		if len(b) != 16 {
			return fmt.Errorf("%d bytes, want 16", len(b))
		}
		v.setUUID(i, uuid.UUID(b))
	case canon.Timestamptz:
		v.setMicros(i, pv.Int64())
	default:
		v.setText(i, string(pv.ByteArray()))
	}
	return nil
}
