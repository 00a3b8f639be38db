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
// A range [From, To) applies to each table's own creation time
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
