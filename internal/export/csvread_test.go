package export

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
)

// field is a record field as the tests write it: its text and whether it
// was quoted.
type field struct {
	s      string
	quoted bool
}

func readAllCSV(input string) ([][]field, error) {
	r := newCSVReader(strings.NewReader(input))
	var out [][]field
	for {
		rec, err := r.read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		var fs []field
		for _, f := range rec {
			fs = append(fs, field{string(r.bytes(f)), f.quoted})
		}
		out = append(out, fs)
	}
}

func TestCSVReaderTellsQuotedFromUnquoted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		input string
		want  [][]field
	}{
		{"null and empty string", "a,,\"\",b\n", [][]field{{{"a", false}, {"", false}, {"", true}, {"b", false}}}},
		{"trailing null", "a,\n", [][]field{{{"a", false}, {"", false}}}},
		{"doubled quotes", `"say ""hi""",x` + "\n", [][]field{{{`say "hi"`, true}, {"x", false}}}},
		{"quoted field spans lines", "1,\"line one,\nline two\n\",2\n3,x\n",
			[][]field{{{"1", false}, {"line one,\nline two\n", true}, {"2", false}}, {{"3", false}, {"x", false}}}},
		{"no final newline", "1,\"\"", [][]field{{{"1", false}, {"", true}}}},
		{"jsonb as PostgreSQL quotes it", `"{""a"": 1}"` + "\n", [][]field{{{`{"a": 1}`, true}}}},
		{"carriage return kept in a quoted field", "\"a\rb\"\n", [][]field{{{"a\rb", true}}}},
		{"empty input", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readAllCSV(c.input)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestCSVReaderRefusesMalformedRecords(t *testing.T) {
	t.Parallel()
	for name, input := range map[string]string{
		"unclosed quote":         "a,\"bc\n",
		"quote in unquoted":      "a,b\"c\n",
		"text after close quote": "\"a\"b,c\n",
		"empty line":             "a\n\nb\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readAllCSV(input)
			require.Error(t, err)
		})
	}
}

func TestCSVTimestampsAsPostgreSQLPrintsThem(t *testing.T) {
	t.Parallel()
	tbl := newRowValues(mustTable(t, "acks"))
	for text, micros := range map[string]int64{
		"2026-11-28 14:27:25.123456+00": 1795876045123456,
		"2026-11-28 14:27:25.1+00":      1795876045100000,
		"2026-11-28 14:27:25+00":        1795876045000000,
	} {
		require.NoError(t, setFromText(tbl, 6, tbl.t.Columns[6], []byte(text)), text)
		require.Equal(t, micros, tbl.cells[6].ts.UnixMicro(), text)
	}
	require.Error(t, setFromText(tbl, 6, tbl.t.Columns[6], []byte("yesterday")))
}

func mustTable(t *testing.T, name string) *canon.Table {
	t.Helper()
	tbl, _, err := canon.Lookup(name)
	require.NoError(t, err)
	return tbl
}

func TestReadLongLineGathersLinesLongerThanTheBuffer(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100)
	input := "short\n" + long + "\n" + "\n" + long + "y\n" + "last"
	br := bufio.NewReaderSize(strings.NewReader(input), 16) // the minimum size
	var buf []byte
	for _, want := range []string{"short\n", long + "\n", "\n", long + "y\n"} {
		line, err := readLongLine(br, &buf)
		require.NoError(t, err)
		require.Equal(t, want, string(line))
	}
	line, err := readLongLine(br, &buf)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "last", string(line))
	line, err = readLongLine(br, &buf)
	require.ErrorIs(t, err, io.EOF)
	require.Empty(t, line)

	t.Run("csvReader reads records longer than its buffer", func(t *testing.T) {
		t.Parallel()
		c := &csvReader{br: bufio.NewReaderSize(strings.NewReader(long+",\"a\n"+long+"\"\n"), 16), line: 1}
		rec, err := c.read()
		require.NoError(t, err)
		require.Len(t, rec, 2)
		require.Equal(t, long, string(c.buf[rec[0].start:rec[0].end]))
		require.Equal(t, "a\n"+long, string(c.buf[rec[1].start:rec[1].end]))
		_, err = c.read()
		require.ErrorIs(t, err, io.EOF)
	})
}
