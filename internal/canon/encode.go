package canon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrEncode is returned (wrapped) when values do not match a table's
// canonical columns.
var ErrEncode = errors.New("canon: cannot encode row")

// Field markers of the encoding.
const (
	fieldNull  = 0x00
	fieldValue = 0x01
)

// EncodeLeaf returns the leaf data of one row of the named table (see
// [Lookup] for the accepted names). values holds one value per canonical
// column, in order; see [Table.AppendLeaf] for the accepted Go types.
func EncodeLeaf(table string, values []any) ([]byte, error) {
	t, _, err := Lookup(table)
	if err != nil {
		return nil, err
	}
	return t.AppendLeaf(nil, values)
}

// EncodeLeaf returns the leaf data of one row of t. See [Table.AppendLeaf].
func (t *Table) EncodeLeaf(values []any) ([]byte, error) {
	return t.AppendLeaf(nil, values)
}

// AppendLeaf appends the leaf data of one row of t to dst and returns the
// extended slice; reusing dst across rows avoids an allocation per row.
//
// values holds one value per canonical column, in order. Accepted Go types:
// nil (NULL) for any column, or a nil pointer of an accepted pointer type;
// int8 columns take int64, int32, int16, int or *int64; bool columns bool
// or *bool; uuid columns [16]byte, uuid.UUID or *uuid.UUID; timestamptz
// columns time.Time or *time.Time (encoded with microsecond precision, as
// PostgreSQL stores it; finer digits are an error); text and jsonb columns
// string, *string or []byte. A jsonb value must be PostgreSQL's text output
// of the value (col::text), which is what [Table.Select] returns.
func (t *Table) AppendLeaf(dst []byte, values []any) ([]byte, error) {
	return t.AppendLeafAt(dst, t.Version, values)
}

// AppendLeafAt is AppendLeaf for encoding version v, which may be older
// than t's: values still holds one value per column of t, and the columns
// version v does not have are left out of the leaf. Seals record the
// version their leaves were made with, so a seal made before a column
// existed verifies against today's rows.
func (t *Table) AppendLeafAt(dst []byte, version int16, values []any) ([]byte, error) {
	if len(values) != len(t.Columns) {
		return dst, fmt.Errorf("%w: %s: %d values for %d columns", ErrEncode, t.Stem, len(values), len(t.Columns))
	}
	if version < FirstVersion || version > t.Version {
		return dst, fmt.Errorf("%w: %s: encoding version %d with the columns of version %d", ErrEncode, t.Stem, version, t.Version)
	}
	dst = append(dst, byte(version))
	dst = appendText(dst, t.Stem)
	for i, v := range values {
		if t.Columns[i].Since > version {
			continue
		}
		var err error
		dst, err = appendField(dst, t.Columns[i].Type, v)
		if err != nil {
			return dst, fmt.Errorf("%w: %s.%s: %w", ErrEncode, t.Stem, t.Columns[i].Name, err)
		}
	}
	return dst, nil
}

// LeafPrefix returns how the leaf data of row id of the table with file
// stem stem begins in the current encoding Version: the version, the table
// name and the id field.
func LeafPrefix(stem string, id int64) []byte { return LeafPrefixAt(Version, stem, id) }

// LeafPrefixAt is LeafPrefix for encoding version v.
func LeafPrefixAt(v int16, stem string, id int64) []byte {
	b := appendText([]byte{byte(v)}, stem)
	b = append(b, fieldValue)
	return binary.BigEndian.AppendUint64(b, uint64(id))
}

func appendText(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

func appendField(dst []byte, typ Type, v any) ([]byte, error) {
	v = deref(v)
	if v == nil {
		return append(dst, fieldNull), nil
	}
	switch typ {
	case Int8:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case int32:
			n = int64(x)
		case int16:
			n = int64(x)
		case int:
			n = int64(x)
		default:
			return dst, fmt.Errorf("int8 column given %T", v)
		}
		dst = append(dst, fieldValue)
		return binary.BigEndian.AppendUint64(dst, uint64(n)), nil
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return dst, fmt.Errorf("bool column given %T", v)
		}
		if b {
			return append(dst, fieldValue, 1), nil
		}
		return append(dst, fieldValue, 0), nil
	case UUID:
		var u [16]byte
		switch x := v.(type) {
		case [16]byte:
			u = x
		case uuid.UUID:
			u = x
		default:
			return dst, fmt.Errorf("uuid column given %T", v)
		}
		dst = append(dst, fieldValue)
		return append(dst, u[:]...), nil
	case Timestamptz:
		ts, ok := v.(time.Time)
		if !ok {
			return dst, fmt.Errorf("timestamptz column given %T", v)
		}
		if ts.Nanosecond()%1000 != 0 {
			return dst, fmt.Errorf("timestamptz %s finer than a microsecond", ts.Format(time.RFC3339Nano))
		}
		dst = append(dst, fieldValue)
		return binary.BigEndian.AppendUint64(dst, uint64(ts.UnixMicro())), nil
	case Text, JSONB:
		switch x := v.(type) {
		case string:
			return appendText(append(dst, fieldValue), x), nil
		case []byte:
			dst = append(dst, fieldValue)
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(x)))
			return append(dst, x...), nil
		default:
			return dst, fmt.Errorf("%s column given %T", typ, v)
		}
	default:
		return dst, fmt.Errorf("unknown column type %q", typ)
	}
}

// deref turns the accepted pointer types into their values, and nil
// pointers into nil.
func deref(v any) any {
	switch x := v.(type) {
	case *int64:
		if x == nil {
			return nil
		}
		return *x
	case *bool:
		if x == nil {
			return nil
		}
		return *x
	case *uuid.UUID:
		if x == nil {
			return nil
		}
		return *x
	case *time.Time:
		if x == nil {
			return nil
		}
		return *x
	case *string:
		if x == nil {
			return nil
		}
		return *x
	case []byte:
		if x == nil {
			return nil
		}
		return x
	}
	return v
}
