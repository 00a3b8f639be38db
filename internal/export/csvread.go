package export

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// csvField is one field of a record read by csvReader: its bytes (quotes
// removed, doubled quotes undone) and whether it was quoted. PostgreSQL's
// COPY ... (FORMAT csv) writes NULL as an unquoted empty field and an empty
// string as "", so the difference matters; encoding/csv cannot tell them
// apart.
type csvField struct {
	start, end int // into csvReader.buf
	quoted     bool
}

// csvReader reads RFC 4180 records (comma-separated, fields optionally in
// double quotes, a quote inside a quoted field doubled, quoted fields may
// span lines), reporting for every field
// whether it was quoted. It is strict: a quote inside an unquoted field,
// or anything but a comma or the end of the record after a closing quote,
// is an error. Records end in LF, as PostgreSQL writes them; the last one
// may lack it.
type csvReader struct {
	br     *bufio.Reader
	buf    []byte
	fields []csvField
	line   int    // the line the next record starts on, 1-based
	long   []byte // a line longer than br's buffer (readLongLine)
}

func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{br: bufio.NewReaderSize(r, 256<<10), line: 1}
}

// readLine returns the next line including its '\n' (none at the end of
// the input); the slice is valid until the next read, so callers copy
// what they keep.
func (c *csvReader) readLine() ([]byte, error) {
	line, err := readLongLine(c.br, &c.long)
	if err == io.EOF && len(line) > 0 {
		err = nil
	}
	return line, err
}

// readLongLine returns the next line of br including its '\n', however
// long: a line longer than br's buffer is gathered in *long, which is
// reused from call to call. The slice is valid until the next read from
// br. Errors are ReadSlice's: at the end of the input, the last line
// without '\n' (maybe empty) and io.EOF.
func readLongLine(br *bufio.Reader, long *[]byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		*long = append((*long)[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			*long = append(*long, line...)
		}
		line = *long
	}
	return line, err
}

// read reads the next record; its fields are valid until the next call.
// It returns io.EOF at the end of the input.
func (c *csvReader) read() ([]csvField, error) {
	c.buf = c.buf[:0]
	c.fields = c.fields[:0]
	start := c.line
	line, err := c.readLine()
	if err != nil {
		return nil, err // io.EOF: no more records
	}
	c.line++
	pos := 0
	for {
		f := csvField{start: len(c.buf)}
		if pos < len(line) && line[pos] == '"' {
			f.quoted = true
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					// The field goes on on the next line.
					c.buf = append(c.buf, line[pos:]...)
					if line, err = c.readLine(); err != nil {
						if err == io.EOF {
							return nil, fmt.Errorf("record on line %d: quoted field not closed at the end of the file", start)
						}
						return nil, err
					}
					c.line++
					pos = 0
					continue
				}
				c.buf = append(c.buf, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					c.buf = append(c.buf, '"')
					pos++
					continue
				}
				break
			}
		} else {
			i := pos
			for i < len(line) && line[i] != ',' && line[i] != '\n' && line[i] != '"' {
				i++
			}
			if i < len(line) && line[i] == '"' {
				return nil, fmt.Errorf("record on line %d: quote in an unquoted field", start)
			}
			c.buf = append(c.buf, line[pos:i]...)
			pos = i
		}
		f.end = len(c.buf)
		c.fields = append(c.fields, f)
		rest := line[pos:]
		switch {
		case len(rest) > 0 && rest[0] == ',':
			pos++
			continue
		case len(rest) == 0 || (len(rest) == 1 && rest[0] == '\n'):
			if !f.quoted && len(c.fields) == 1 && f.end == f.start && len(rest) > 0 {
				// An empty line is not a record of one NULL field.
				return nil, fmt.Errorf("empty line %d", start)
			}
			return c.fields, nil
		default:
			if f.quoted {
				return nil, fmt.Errorf("record on line %d: %q after a closing quote", start, rest[0])
			}
			return nil, fmt.Errorf("record on line %d: unexpected %q", start, rest[0])
		}
	}
}

// bytes returns f's bytes, valid until the next read.
func (c *csvReader) bytes(f csvField) []byte { return c.buf[f.start:f.end] }
