package export

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/racledger/racledger/internal/canon"
)

// Problem is one way an export directory does not match its manifest.
type Problem struct {
	// File is the file concerned (manifest.json for the manifest itself).
	File string
	// Detail says what does not match.
	Detail string
}

func (p Problem) String() string { return p.File + ": " + p.Detail }

// Result is what Verify found.
type Result struct {
	// Manifest is the decoded manifest; nil if it could not be read.
	Manifest *Manifest
	// Problems lists every mismatch; empty means intact.
	Problems []Problem
	// SignatureChecked reports whether a signature was verified.
	SignatureChecked bool
	// Files and Rows count the data files and rows checked.
	Files int
	Rows  int64
}

// Intact reports whether nothing was found wrong.
func (r *Result) Intact() bool { return len(r.Problems) == 0 }

func (r *Result) problem(file, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{File: file, Detail: fmt.Sprintf(format, args...)})
}

// Verify checks the export in dir against its manifest: every listed file
// exists with the listed size, SHA-256 and row count (rows are counted by
// parsing the file, not taken from the manifest), the files carry their
// table's canonical columns, and no file is missing or extra. With pub,
// manifest.json.sig must be pub's ed25519 signature of manifest.json; a
// missing signature is then a problem. The error is for what prevents
// checking (an unreadable directory), never for a mismatch.
func Verify(dir string, pub ed25519.PublicKey) (*Result, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read export directory: %w", err)
	}
	r := &Result{}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.problem(ManifestName, "missing")
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if pub != nil {
		sig, err := os.ReadFile(filepath.Join(dir, SignatureName))
		switch {
		case errors.Is(err, os.ErrNotExist):
			r.problem(SignatureName, "missing (a public key was given)")
		case err != nil:
			return nil, fmt.Errorf("read signature: %w", err)
		case !ed25519.Verify(pub, raw, sig):
			r.problem(SignatureName, "does not verify manifest.json with the given public key")
		default:
			r.SignatureChecked = true
		}
	}
	m, err := ParseManifest(raw)
	if err != nil {
		r.problem(ManifestName, "%v", err)
		return r, nil
	}
	r.Manifest = m

	listed := map[string]bool{ManifestName: true, SignatureName: true}
	for _, f := range m.Files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." || listed[f.Name] {
			r.problem(ManifestName, "file entry %q is not a distinct plain file name", f.Name)
			continue
		}
		listed[f.Name] = true
		if err := verifyFile(r, dir, m.Format, f); err != nil {
			return nil, err
		}
	}
	for _, ent := range entries {
		if !listed[ent.Name()] {
			r.problem(ent.Name(), "not listed in the manifest")
		}
	}
	return r, nil
}

// verifyFile checks one listed file; only an I/O error other than a
// missing file is returned.
func verifyFile(r *Result, dir string, format Format, f File) error {
	t, _, err := canon.Lookup(f.Table)
	if err != nil {
		r.problem(f.Name, "unknown table %q", f.Table)
		return nil
	}
	if want := format.FileName(t); f.Name != want {
		r.problem(f.Name, "table %s in format %s should be named %s", f.Table, format, want)
	}
	path := filepath.Join(dir, f.Name)
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		r.problem(f.Name, "missing")
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		r.problem(f.Name, "not a regular file")
		return nil
	}
	r.Files++
	h := sha256.New()
	size, err := io.Copy(h, file)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if size != f.Bytes {
		r.problem(f.Name, "size %d bytes, manifest says %d", size, f.Bytes)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
		r.problem(f.Name, "sha256 %s, manifest says %s", sum, f.SHA256)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var rows int64
	switch format {
	case CSV:
		rows, err = countCSV(file, t)
	case JSONL:
		rows, err = countJSONL(file, t)
	case Parquet:
		rows, err = countParquet(file, size, t)
	default:
		r.problem(ManifestName, "unknown format %q", format)
		return nil
	}
	if err != nil {
		r.problem(f.Name, "%v", err)
		return nil
	}
	r.Rows += rows
	if rows != f.Rows {
		r.problem(f.Name, "%d rows, manifest says %d", rows, f.Rows)
	}
	return nil
}

// countCSV counts the records after the header, checking the header names
// t's canonical columns and every record has one field per column.
func countCSV(rd io.Reader, t *canon.Table) (int64, error) {
	cr := csv.NewReader(bufio.NewReaderSize(rd, 256<<10))
	cr.FieldsPerRecord = len(t.Columns)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return 0, fmt.Errorf("no valid CSV header: %w", err)
	}
	if !slices.Equal(header, t.ColumnNames()) {
		return 0, fmt.Errorf("CSV header %q is not the canonical columns %q", header, t.ColumnNames())
	}
	var n int64
	for {
		_, err := cr.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("not valid CSV after %d rows: %w", n, err)
		}
		n++
	}
}

// countJSONL counts lines, checking each is a JSON object with t's
// canonical columns as keys, in order.
func countJSONL(rd io.Reader, t *canon.Table) (int64, error) {
	br := bufio.NewReaderSize(rd, 256<<10)
	names := t.ColumnNames()
	var n int64
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: collect it whole.
			var long []byte
			long = append(long, line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) == 0 && err == io.EOF {
			return n, nil
		}
		if err != nil && err != io.EOF {
			return n, err
		}
		if !bytes.HasSuffix(line, []byte("\n")) {
			return n, fmt.Errorf("line %d does not end in a newline", n+1)
		}
		if err := checkJSONObject(line, names); err != nil {
			return n, fmt.Errorf("line %d: %w", n+1, err)
		}
		n++
	}
}

// checkJSONObject checks that line is one JSON object whose keys are
// names, in order.
func checkJSONObject(line []byte, names []string) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not a JSON object")
	}
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not valid JSON: %w", err)
		}
		if i >= len(names) || tok != names[i] {
			return fmt.Errorf("key %v where the canonical columns %s expect %s", tok, strings.Join(names, ","), nameAt(names, i))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("not valid JSON: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value")
	}
	return nil
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return "no more keys"
}

// countParquet reads every row of a Parquet file, checking its columns
// are t's canonical columns and the row groups add up to the footer's
// row count.
func countParquet(ra io.ReaderAt, size int64, t *canon.Table) (n int64, err error) {
	defer func() {
		// The Parquet reader may panic on a corrupt file; that is a
		// finding about the file, not a crash.
		if p := recover(); p != nil {
			err = fmt.Errorf("not a valid Parquet file: %v", p)
		}
	}()
	pf, err := parquet.OpenFile(ra, size)
	if err != nil {
		return 0, fmt.Errorf("not a valid Parquet file: %w", err)
	}
	var cols []string
	for _, path := range pf.Schema().Columns() {
		cols = append(cols, strings.Join(path, "."))
	}
	if !slices.Equal(cols, t.ColumnNames()) {
		return 0, fmt.Errorf("Parquet columns %q are not the canonical columns %q", cols, t.ColumnNames())
	}
	buf := make([]parquet.Row, 256)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			k, rerr := rows.ReadRows(buf)
			n += int64(k)
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				_ = rows.Close()
				return n, fmt.Errorf("not a valid Parquet file: %w", rerr)
			}
		}
		if err := rows.Close(); err != nil {
			return n, fmt.Errorf("not a valid Parquet file: %w", err)
		}
	}
	if n != pf.NumRows() {
		return n, fmt.Errorf("row groups hold %d rows, the Parquet footer says %d", n, pf.NumRows())
	}
	return n, nil
}
