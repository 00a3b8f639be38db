package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/racledger/racledger/internal/canon"
)

// ManifestName is the manifest's file name in an export directory, and
// SignatureName that of its detached signature.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.json.sig"
)

// ManifestFormatVersion is the version of the manifest's layout. Version
// 2 added range.kind and the seal-range fields, the seal entries,
// seal_head and unsealed_rows; version 1 manifests (whose seal list is
// always empty) are still read and verified.
const ManifestFormatVersion = 2

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
	// Range is the half-open range exported: of creation times, or of
	// transaction ids given by a run of seals.
	Range Range `json:"range"`
	// Tenant is the tenant exported; null means every tenant the exporting
	// session may see (VisibleTenants).
	Tenant *string `json:"tenant"`
	// VisibleTenants names the tenants the exporting session could see
	// (rac.tenant_scope(): row-level security applies to exports too).
	// Absent in manifests written before tenant isolation.
	VisibleTenants []string `json:"visible_tenants,omitempty"`
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
	// Seals lists, in id order, the seals that cover exported rows, as
	// read from rac.seals in the export's snapshot: for a time range,
	// every seal whose tx_id window holds at least one exported row; for a
	// seal range, seals FromSeal..ToSeal.
	Seals []Seal `json:"seals"`
	// SealHead is the latest seal in the export's snapshot; null when the
	// ledger had no seal.
	SealHead *SealHead `json:"seal_head"`
	// UnsealedRows counts the exported rows no seal covered yet: tx_id at
	// or above the head's horizon_to (every row when there is no seal).
	UnsealedRows int64 `json:"unsealed_rows"`
}

// Range kinds.
const (
	RangeTime  = "time"  // [from, to) of each table's creation time
	RangeSeals = "seals" // [tx_id_from, tx_id_to) of seals from_seal..to_seal
)

// Range is the half-open range an export holds.
type Range struct {
	// Kind is RangeTime or RangeSeals (absent, meaning time, in format
	// version 1).
	Kind string `json:"kind,omitempty"`
	// From and To bound a time range [From, To), applied to each table's
	// creation time column.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// FromSeal and ToSeal are the first and last seal id of a seal range;
	// TxIDFrom and TxIDTo its rows' tx_id bounds [TxIDFrom, TxIDTo): the
	// first seal's horizon_from and the last seal's horizon_to.
	FromSeal *int64 `json:"from_seal,omitempty"`
	ToSeal   *int64 `json:"to_seal,omitempty"`
	TxIDFrom *int64 `json:"tx_id_from,omitempty"`
	TxIDTo   *int64 `json:"tx_id_to,omitempty"`
	// Columns names, per file stem, the column the range applies to
	// (tx_id for every table in a seal range).
	Columns map[string]string `json:"columns"`
}

// Seal is one seal of rac.seals (docs/tamper-evidence.md), with hashes in
// lower-case hex, and whether the export holds its whole window.
type Seal struct {
	ID          int64     `json:"id"`
	Version     int16     `json:"version"`
	HorizonFrom int64     `json:"horizon_from"`
	HorizonTo   int64     `json:"horizon_to"`
	RowCounts   RowCounts `json:"row_counts"`
	MerkleRoot  string    `json:"merkle_root"`
	PrevHash    string    `json:"prev_hash"`
	SealHash    string    `json:"seal_hash"`
	SealedAt    time.Time `json:"sealed_at"`
	// Complete reports that the export holds every row of the seal's
	// window in every table (per table, the exported rows with tx_id in
	// [HorizonFrom, HorizonTo) number RowCounts): verify-export then
	// rebuilds its Merkle root from the files.
	Complete bool `json:"complete"`
}

// Header returns the seal's fields as canon hashes them; it fails on a
// hash that is not 32 bytes of hex.
func (s *Seal) Header() (canon.SealHeader, error) {
	return canon.ParseSealHeader(canon.SealHeader{ID: s.ID, Version: s.Version, HorizonFrom: s.HorizonFrom,
		HorizonTo: s.HorizonTo, RowCounts: []int64(s.RowCounts), SealedAt: s.SealedAt}, s.MerkleRoot, s.PrevHash)
}

// SealHead identifies the latest seal when the export was taken.
type SealHead struct {
	ID        int64  `json:"id"`
	SealHash  string `json:"seal_hash"`
	HorizonTo int64  `json:"horizon_to"`
}

// RowCounts are a seal's rows per table, in canonical table order. In
// JSON they are an object keyed by file stem, in that order:
// {"expectations": 3, "acks": 12, ...}.
type RowCounts []int64

// MarshalJSON writes the counts as an object keyed by file stem.
func (c RowCounts) MarshalJSON() ([]byte, error) {
	if len(c) != len(canon.Tables) {
		return nil, fmt.Errorf("row_counts: %d counts for %d tables", len(c), len(canon.Tables))
	}
	b := []byte{'{'}
	for i, n := range c {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, canon.Tables[i].Stem)
		b = append(b, ':')
		b = strconv.AppendInt(b, n, 10)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads an object whose keys are exactly the file stems, in
// canonical order.
func (c *RowCounts) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("row_counts is not an object")
	}
	var out RowCounts
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("row_counts: %w", err)
		}
		if i >= len(canon.Tables) || tok != canon.Tables[i].Stem {
			return fmt.Errorf("row_counts: key %v is not the table %s", tok, nameAt(stems(), i))
		}
		var n int64
		if err := dec.Decode(&n); err != nil {
			return fmt.Errorf("row_counts.%s: %w", canon.Tables[i].Stem, err)
		}
		out = append(out, n)
	}
	if len(out) != len(canon.Tables) {
		return fmt.Errorf("row_counts: %d counts for %d tables", len(out), len(canon.Tables))
	}
	*c = out
	return nil
}

// stems returns the canonical tables' file stems, in order.
func stems() []string {
	s := make([]string, len(canon.Tables))
	for i := range canon.Tables {
		s[i] = canon.Tables[i].Stem
	}
	return s
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
	if m.FormatVersion != 1 && m.FormatVersion != ManifestFormatVersion {
		return nil, fmt.Errorf("manifest format_version %d is not 1 or %d", m.FormatVersion, ManifestFormatVersion)
	}
	if m.Range.Kind == "" && m.FormatVersion == 1 {
		m.Range.Kind = RangeTime
	}
	if m.Range.Kind != RangeTime && m.Range.Kind != RangeSeals {
		return nil, fmt.Errorf("manifest range kind %q is not %s or %s", m.Range.Kind, RangeTime, RangeSeals)
	}
	return &m, nil
}
