// Package canon is the canonical row encoding of RAC Ledger (version 1) and
// the RFC 6962 style Merkle hashing built on it. It is the one contract that
// seals (internal/seal: rac seal, rac verify, inclusion proofs) and exports
// (rac export, rac verify-export) share, so a row exported to a file can be
// hashed offline and checked against a seal's Merkle root.
//
// The byte layout is documented in docs/canonical-encoding.md (linked from
// docs/tamper-evidence.md); this package implements it exactly:
//
//   - [Tables] lists the six ledger tables in seal order, each with its SQL
//     name, its export file stem (also the name hashed into every leaf), its
//     canonical columns and the SELECT that returns those columns for a
//     tx_id window in id order, with catalog names joined in.
//   - [Table.EncodeLeaf] (and [EncodeLeaf]) turn one row's typed Go values
//     into leaf data.
//   - [LeafHash], [NodeHash], [Tree] (a streaming root builder that keeps
//     O(log n) hashes), [PathBuilder] (a streaming audit path builder) and
//     [VerifyInclusion] are the Merkle tree of RFC 6962, section 2.1, with
//     leaf and node hashes domain-separated by a 0x00 or 0x01 prefix.
//
// Nothing here touches a database: the SELECT statements are plain strings
// for callers that stream rows with pgx.
package canon
