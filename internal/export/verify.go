package export

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/racledger/racledger/internal/canon"
)

// Problem is one way an export directory does not match its manifest.
type Problem struct {
	// File is the file concerned (manifest.json for the manifest itself
	// and the seals it lists).
	File string
	// Seal is the seal concerned, 0 for none.
	Seal int64
	// Detail says what does not match.
	Detail string
}

// String returns "FILE: detail", or "seal N: detail" for a seal.
func (p Problem) String() string {
	if p.Seal != 0 {
		return fmt.Sprintf("seal %d: %s", p.Seal, p.Detail)
	}
	return p.File + ": " + p.Detail
}

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
	// Seals has one entry per seal the manifest lists, in its order.
	Seals []SealCheck
}

// Intact reports whether nothing was found wrong.
func (r *Result) Intact() bool { return len(r.Problems) == 0 }

func (r *Result) problem(file, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{File: file, Detail: fmt.Sprintf(format, args...)})
}

// Verify checks the export in dir against its manifest: every listed file
// exists with the listed size, SHA-256 and row count (rows are counted by
// parsing the file, not taken from the manifest), the files carry their
// table's canonical columns with values of their canonical types, and no
// file is missing or extra. The seals the manifest lists must hash to
// their seal_hash and chain where their ids are consecutive; for every
// seal whose whole window the files hold, the Merkle root rebuilt from the
// exported rows must be its merkle_root, so a row edited in a file is
// found even when the manifest's checksums were rewritten to match. The
// files are read once, in canonical table order. With pub,
// manifest.json.sig must be pub's ed25519 signature of manifest.json; a
// missing signature is then a problem. The error is for what prevents
// checking (an unreadable directory), never for a mismatch.
//
// A directory without manifest.json is no complete export (an export
// writes its manifest last, so an interrupted one has none): that is an
// error wrapping ErrIncomplete, not a mismatch.
func Verify(dir string, pub ed25519.PublicKey) (*Result, error) {
	return VerifyWithOptions(dir, VerifyOptions{PublicKey: pub})
}

// ErrIncomplete reports a directory that holds no complete export: no
// manifest.json (empty, interrupted, or not an export at all).
var ErrIncomplete = errors.New("export: incomplete or not an export")

// VerifyOptions configure VerifyWithOptions.
type VerifyOptions struct {
	// PublicKey, when set, must have signed manifest.json.
	PublicKey ed25519.PublicKey
	// Progress receives progress lines while files are read; nil: none.
	Progress io.Writer
	// ProgressEvery is the interval between progress lines within a
	// file. Default 2s.
	ProgressEvery time.Duration
}

// VerifyWithOptions is Verify with progress reporting.
func VerifyWithOptions(dir string, opts VerifyOptions) (*Result, error) {
	pub := opts.PublicKey
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 2 * time.Second
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read export directory: %w", err)
	}
	r := &Result{}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		what := "an empty directory"
		for _, ent := range entries {
			if strings.HasPrefix(ent.Name(), tempPrefix) || isExportFile(ent.Name()) {
				what = "an interrupted export (data files without the manifest, which an export writes last)"
				break
			}
			what = "not an export directory"
		}
		return nil, fmt.Errorf("%w: %s has no %s: %s", ErrIncomplete, dir, ManifestName, what)
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

	// Seal checks start with a format 2 manifest; a format 1 manifest
	// lists no seals.
	var sc *sealChecker
	if m.FormatVersion >= 2 {
		sc = newSealChecker(r, m)
	}
	// Files in canonical table order, so seals get their leaves in order.
	files := slices.Clone(m.Files)
	order := func(f File) int {
		if _, i, err := canon.Lookup(f.Table); err == nil {
			return i
		}
		return len(canon.Tables)
	}
	slices.SortStableFunc(files, func(a, b File) int { return order(a) - order(b) })
	listed := map[string]bool{ManifestName: true, SignatureName: true}
	byTable := map[int]string{}
	for _, f := range files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." || listed[f.Name] {
			r.problem(ManifestName, "file entry %q is not a distinct plain file name", f.Name)
			continue
		}
		listed[f.Name] = true
		if i := order(f); i < len(canon.Tables) {
			if byTable[i] != "" {
				r.problem(ManifestName, "%s and %s both hold %s", byTable[i], f.Name, f.Table)
				continue
			}
			byTable[i] = f.Name
		}
		p := newProgress(opts.Progress, opts.ProgressEvery, f.Name)
		p.prefix = "verify-export"
		if err := verifyFile(r, dir, m.Format, int16(m.CanonicalEncoding), f, sc, p); err != nil {
			return nil, err
		}
	}
	for _, ent := range entries {
		if !listed[ent.Name()] {
			r.problem(ent.Name(), "not listed in the manifest")
		}
	}
	if sc != nil {
		sc.finish(byTable)
	}
	return r, nil
}

// verifyFile checks one listed file and feeds its rows to sc (when not
// nil); only an I/O error other than a missing file is returned. CSV and
// JSON Lines are read once, hashed as they are parsed; Parquet, which is
// read from its footer, is hashed first.
func verifyFile(r *Result, dir string, format Format, encoding int16, f File, sc *sealChecker, p *progress) error {
	// The files hold the columns of the encoding the export was made with.
	t, ti, err := canon.LookupAt(encoding, f.Table)
	if err != nil {
		r.problem(f.Name, "table %q of canonical encoding %d: %v", f.Table, encoding, err)
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
	counted := &countingReader{r: io.TeeReader(file, h), p: p}
	var dec rowDecoder
	switch format {
	case CSV:
		dec, err = newCSVDecoder(counted, t)
	case JSONL:
		dec = newJSONLDecoder(counted, t)
	case Parquet:
		if _, err := io.Copy(io.Discard, counted); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		dec, err = newParquetDecoder(file, counted.n, t)
	default:
		r.problem(ManifestName, "unknown format %q", format)
		return nil
	}
	var rows int64
	if err == nil {
		rows, err = decodeRows(dec, t, ti, sc)
	}
	if err != nil {
		if rerr := readErr(err); rerr != nil {
			return fmt.Errorf("read %s: %w", path, rerr)
		}
		r.problem(f.Name, "%v", err)
	}
	// Hash what the parser left unread.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if counted.n != f.Bytes {
		r.problem(f.Name, "size %d bytes, manifest says %d", counted.n, f.Bytes)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
		r.problem(f.Name, "sha256 %s, manifest says %s", sum, f.SHA256)
	}
	p.done(rows, counted.n)
	r.Rows += rows
	if rows != f.Rows {
		r.problem(f.Name, "%d rows, manifest says %d", rows, f.Rows)
	}
	return nil
}

// decodeRows reads every row of dec, checking ids increase, and hands
// each to sc; it returns the rows read, and the first problem.
func decodeRows(dec rowDecoder, t *canon.Table, ti int, sc *sealChecker) (int64, error) {
	v := newRowValues(t)
	var n, prevID int64
	for {
		err := dec.next(v)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if n > 1 && v.id() <= prevID {
			return n, fmt.Errorf("row %d: id %d after id %d: rows are not in id order", n, v.id(), prevID)
		}
		prevID = v.id()
		if sc != nil {
			if err := sc.row(ti, v); err != nil {
				return n, fmt.Errorf("row %d: %w", n, err)
			}
		}
	}
}

// countingReader counts the bytes read through it; a read error is marked
// (ioError) so that it is reported as an I/O error, not as a malformed
// file.
type countingReader struct {
	r io.Reader
	n int64
	p *progress // nil: none
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	if c.p != nil {
		c.p.wrote(k)
	}
	if err != nil && err != io.EOF {
		err = &ioError{err}
	}
	return k, err
}

// ioError marks a read error of the file itself.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// readErr returns the I/O error behind err, if any.
func readErr(err error) error {
	var ioe *ioError
	if errors.As(err, &ioe) {
		return ioe.err
	}
	return nil
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return "no more keys"
}
