package export

import (
	"encoding/hex"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/racledger/racledger/internal/canon"
)

// jsonlSink writes one JSON object per line: keys are the canonical column
// names in canonical order; int8 as numbers, bools, uuids as strings,
// timestamps as RFC 3339 UTC strings with microseconds, text as strings,
// jsonb embedded as PostgreSQL prints it, NULL as null.
type jsonlSink struct {
	w    io.Writer
	cols []canon.Column
	keys [][]byte // `"name":` per column, with the separating comma
	buf  []byte
}

func newJSONLSink(w io.Writer, t *canon.Table) *jsonlSink {
	s := &jsonlSink{w: w, cols: t.Columns, keys: make([][]byte, len(t.Columns))}
	for i, c := range t.Columns {
		var k []byte
		if i > 0 {
			k = append(k, ',')
		}
		k = appendJSONString(k, c.Name)
		s.keys[i] = append(k, ':')
	}
	return s
}

func (s *jsonlSink) writeRow(cells []cell) error {
	b := append(s.buf[:0], '{')
	for i, c := range s.cols {
		b = append(b, s.keys[i]...)
		cl := &cells[i]
		if !cl.valid(c.Type) {
			b = append(b, "null"...)
			continue
		}
		switch c.Type {
		case canon.Int8:
			b = strconv.AppendInt(b, cl.i.Int64, 10)
		case canon.Bool:
			b = strconv.AppendBool(b, cl.b.Bool)
		case canon.UUID:
			b = appendUUID(b, cl.u.Bytes)
		case canon.Timestamptz:
			us, err := cl.micros()
			if err != nil {
				return err
			}
			b = append(b, '"')
			b = appendTimestamp(b, us)
			b = append(b, '"')
		case canon.JSONB:
			b = append(b, cl.s.String...)
		default:
			b = appendJSONString(b, cl.s.String)
		}
	}
	b = append(b, '}', '\n')
	s.buf = b
	_, err := s.w.Write(b)
	return err
}

func (s *jsonlSink) close() error { return nil }

// appendUUID appends u as a quoted canonical (8-4-4-4-12, lower-case) uuid.
func appendUUID(dst []byte, u [16]byte) []byte {
	var buf [38]byte
	buf[0] = '"'
	hex.Encode(buf[1:9], u[0:4])
	buf[9] = '-'
	hex.Encode(buf[10:14], u[4:6])
	buf[14] = '-'
	hex.Encode(buf[15:19], u[6:8])
	buf[19] = '-'
	hex.Encode(buf[20:24], u[8:10])
	buf[24] = '-'
	hex.Encode(buf[25:37], u[10:16])
	buf[37] = '"'
	return append(dst, buf[:]...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. It escapes only what JSON
// requires (quote, backslash, control characters) and replaces invalid
// UTF-8 with U+FFFD, so the output is deterministic and minimal.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
