// Package seal makes the ledger tamper-evident: it closes final ledger rows
// into hash-chained seals (rac seal, and on a schedule in rac serve),
// recomputes them (rac verify), and proves or checks one row's inclusion
// (rac prove, rac verify-proof).
//
// # Seals
//
// A seal covers, for every ledger table in canon.Tables order, the rows
// whose tx_id lies in [horizon_from, horizon_to). horizon_to is
// pg_snapshot_xmin of the sealing transaction's REPEATABLE READ snapshot:
// every transaction below it has finished, so those rows are final and all
// visible to the snapshot, and a transaction that commits late has a tx_id
// at or above it and falls into the next seal. Each seal's horizon_from is
// its predecessor's horizon_to (0 for seal 1), so every row lies in exactly
// one seal's window once the horizon has passed it. The seal stores the row
// count per table, the RFC 6962 Merkle root over the rows' canonical
// encoding (internal/canon), the previous seal's hash and its own hash over
// all of that (canon.SealHeader).
//
// Sealing reads the ledger under its snapshot and writes only rac.seals and
// rac.seal_chunks: writers are never blocked. A window without rows makes no
// seal. Replica safety has two layers: a session advisory lock serialises
// sealers (the next one then snapshots after this one's seal), and the
// primary key of rac.seals (id = predecessor + 1) plus the unique
// horizon_from make a fork impossible if the lock is bypassed: the loser
// gets ErrConflict and nothing is written.
//
// # Verification
//
// Verify walks the chain one seal at a time, recomputing each seal's hash
// from its columns, its link to the previous seal, and its counts and root
// from the rows, streamed through a cursor (memory stays flat). Only on a
// mismatch does it read rac.seal_chunks, the locating hints (an 8-byte
// prefix of every leaf hash), to name the edited, inserted or deleted row.
// The hints are never used for detection. A published head (VerifyOptions.
// Head) catches the one thing a chain cannot show by itself: a chain
// truncated or rewritten after that head.
//
// Sealing and verification report the rows they have read so far, batch by
// batch, to an optional hook (Options.Progress, VerifyOptions.Progress,
// VerifierOptions.Progress; see Progress): rac seal and rac verify print
// it on stderr.
//
// # Proofs
//
// Prove returns a row's leaf data, leaf index and audit path in its seal and
// the seal's columns; VerifyProof checks such a Proof without a database.
package seal
