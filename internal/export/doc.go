// Package export writes a range of the RAC Ledger to files an auditor can
// keep: one file per ledger table (expectations, acks, findings,
// resolutions, verdicts, reconciliations) in CSV, JSON Lines or Parquet,
// read in one consistent snapshot, plus manifest.json (range, tenant,
// schema version, snapshot, row counts and SHA-256 of every file) and an
// optional detached ed25519 signature of the manifest. [Verify] checks such
// a directory again, offline.
//
// The columns of every file are the canonical columns of internal/canon
// (docs/canonical-encoding.md), with the same names and order, so an
// exported row can be re-encoded and checked against a seal's Merkle root.
//
// # Range and determinism
//
// A seal range (Options.Seals) exports every table's rows with tx_id in
// the seals' windows; they are final, so it needs no waiting and gives the
// same bytes on every export.
//
// A time range [From, To) applies to each table's own creation time
// (expectations.declared_at, acks.acked_at, findings.detected_at,
// finding_resolutions.recorded_at, run_verdicts.recorded_at,
// reconciliations.finished_at); rows are written in id order. Those times
// come from the database clock inside the writing transaction, so a row
// not yet written can only get a time after the export started; To must
// not be after the database clock. The one way a later export of the same
// range could see more rows is a transaction that wrote into the range but
// had not committed when the snapshot was taken. Before taking its
// snapshot, [Export] therefore checks that no transaction holding a
// transaction id (pg_locks) in this database started before To, counting
// sessions it may not see as open; it waits up to Options.Wait for them
// and otherwise fails with [ErrOpenRange] naming them. A closed range
// exported again, with the same format and tenant and by the same tool
// version, gives byte-identical files: nothing time-dependent (the export
// time, the snapshot) is written into the data files, only into the
// manifest.
//
// # Seals
//
// The manifest lists, read in the export's snapshot, the seals covering
// the exported rows (for a time range, every seal whose tx_id window holds
// an exported row; for a seal range, Options.Seals), each marked complete
// when the export holds its whole window, plus the head and the number of
// unsealed rows. [Verify] checks each listed seal's hash and chain and,
// for every seal whose whole window the files hold, rebuilds its Merkle
// root from the exported rows: the files are read once, in canonical
// table order, each row decoded into its canonical values (CSV with a
// small RFC 4180 reader that tells NULL from "", JSON Lines keeping jsonb
// bytes, typed Parquet values) and its leaf added to the streaming
// canon.Tree of the seal whose window holds its tx_id. Memory is one
// Merkle stack per listed seal.
//
// # Memory
//
// Every table is streamed from PostgreSQL to its file: CSV with COPY ...
// TO STDOUT, JSON Lines one row at a time, Parquet in row groups of at
// most [ParquetRowGroupRows] rows. Memory stays flat for any number of
// rows.
//
// # Files
//
// Each file is written under a temporary name in the directory and renamed
// when complete; the manifest (and its signature) is renamed into place
// last, so a directory with a manifest.json holds a complete export. On
// error the files written so far are removed and no manifest is left.
package export
