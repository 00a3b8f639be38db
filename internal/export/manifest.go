package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// ManifestName is the manifest's file name in an export directory, and
// SignatureName that of its detached signature.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.json.sig"
)

// ManifestFormatVersion is the version of the manifest's layout.
const ManifestFormatVersion = 1

// Manifest describes one export: what was read, from where, and the size,
// row count and SHA-256 of every file. It is written as manifest.json.
type Manifest struct {
	// FormatVersion is ManifestFormatVersion.
	FormatVersion int `json:"format_version"`
	// Tool and ToolVersion name the program that wrote the export.
	Tool        string `json:"tool"`
	ToolVersion string `json:"tool_version"`
	// SchemaVersion is the ledger's goose migration version.
	SchemaVersion int64 `json:"schema_version"`
	// CanonicalEncoding is the version of the canonical row encoding whose
	// columns the files carry (docs/canonical-encoding.md).
	CanonicalEncoding int `json:"canonical_encoding"`
	// DatabaseSystemIdentifier is the cluster's pg_control system
	// identifier, when the exporting role may read it.
	DatabaseSystemIdentifier string `json:"database_system_identifier,omitempty"`
	// Database is the exported database's name.
	Database string `json:"database"`
	// Range is the half-open time range exported.
	Range Range `json:"range"`
	// Tenant is the tenant exported; null means every tenant.
	Tenant *string `json:"tenant"`
	// Omitted lists tables deliberately not exported, with why.
	Omitted []Omitted `json:"omitted"`
	// Format is csv, jsonl or parquet.
	Format Format `json:"format"`
	// Snapshot identifies the snapshot every file was read in.
	Snapshot Snapshot `json:"snapshot"`
	// ExportedAt is when the export finished (the exporting machine's
	// clock); it appears only here, never in a data file.
	ExportedAt time.Time `json:"exported_at"`
	// Files lists every data file, in seal order of their tables.
	Files []File `json:"files"`
	// Seals lists the heads of the seals covering the range. Sealing is
	// not part of this version yet: the list is always empty.
	Seals []json.RawMessage `json:"seals"`
}

// Range is a half-open time range [From, To) applied to each table's
// creation time column.
type Range struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Columns names, per file stem, the column the range applies to.
	Columns map[string]string `json:"columns"`
}

// Omitted is a table left out of an export.
type Omitted struct {
	Table  string `json:"table"`
	Reason string `json:"reason"`
}

// Snapshot describes the REPEATABLE READ snapshot of an export.
type Snapshot struct {
	// Xmin is pg_snapshot_xmin of the snapshot: every transaction below it
	// had finished.
	Xmin int64 `json:"xmin"`
	// Xmax is pg_snapshot_xmax: no transaction at or above it was visible.
	Xmax int64 `json:"xmax"`
	// TakenAt is the database time the snapshot's transaction started.
	TakenAt time.Time `json:"taken_at"`
}

// File is one data file of an export.
type File struct {
	// Name is the file's name in the export directory, e.g. acks.csv.
	Name string `json:"name"`
	// Table is the SQL table it holds, e.g. rac.acks.
	Table string `json:"table"`
	// Rows is the number of rows (CSV: records after the header).
	Rows int64 `json:"rows"`
	// Bytes is the file's size.
	Bytes int64 `json:"bytes"`
	// SHA256 is the lower-case hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`
}

// Marshal returns the manifest's bytes as written to manifest.json:
// indented JSON ending in a newline. A signature covers exactly these
// bytes.
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseManifest decodes manifest.json, refusing unknown fields and
// format versions.
func ParseManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode manifest: data after the JSON object")
	}
	if m.FormatVersion != ManifestFormatVersion {
		return nil, fmt.Errorf("manifest format_version %d is not %d", m.FormatVersion, ManifestFormatVersion)
	}
	return &m, nil
}
