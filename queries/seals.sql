-- Tamper-evidence seals. Rows are streamed by internal/seal with cursors
-- (raw SQL there, see internal/seal/cursor.go); the statements here are the
-- small, non-streaming ones.

-- name: SealStart :one
-- The horizon and clock of a sealing transaction. In a REPEATABLE READ
-- transaction this is the first statement, so the horizon belongs to the
-- transaction's snapshot: every row below it is final and visible.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon,
       date_trunc('microseconds', clock_timestamp())::timestamptz AS now;

-- name: SealHead :one
-- The latest seal, the head of the chain.
SELECT id, version, horizon_from, horizon_to, row_counts, merkle_root, prev_hash, seal_hash, sealed_at
FROM rac.seals
ORDER BY id DESC
LIMIT 1;

-- name: SealNext :one
-- The first seal after the given id: verification walks the chain one seal
-- at a time, so memory stays flat however long the chain is.
SELECT id, version, horizon_from, horizon_to, row_counts, merkle_root, prev_hash, seal_hash, sealed_at
FROM rac.seals
WHERE id > $1
ORDER BY id
LIMIT 1;

-- name: SealInsert :execrows
-- Appends a seal. The primary key (id = head + 1) and the unique
-- horizon_from make a fork impossible: a second sealer that read the same
-- head inserts nothing.
INSERT INTO rac.seals (id, version, horizon_from, horizon_to, row_counts, merkle_root, prev_hash, seal_hash, sealed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING;

-- name: SealChunkInsert :exec
-- Appends the locating hints of one chunk of a sealed table.
INSERT INTO rac.seal_chunks (seal_id, table_name, chunk_no, first_id, last_id, row_count, leaf_prefixes)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: SealSeesWholeLedger :one
-- Whether this session reads every row of every ledger table, as sealing,
-- verification and proofs must (rac.sees_whole_ledger, migration 00006).
SELECT rac.sees_whole_ledger()::bool AS whole;

-- name: LedgerFinal :one
-- Whether every row written so far to every ledger table is final: the
-- horizon (cluster-wide: any open transaction holds it back) has passed
-- their transactions, so a seal or a pass covers them all.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > greatest(
    (SELECT max(tx_id) FROM rac.expectations),
    (SELECT max(tx_id) FROM rac.acks),
    (SELECT max(tx_id) FROM rac.findings),
    (SELECT max(tx_id) FROM rac.finding_resolutions),
    (SELECT max(tx_id) FROM rac.run_verdicts),
    (SELECT max(tx_id) FROM rac.reconciliations),
    0) AS final;
