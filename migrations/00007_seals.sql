-- Tamper evidence: seals over the ledger's final rows, chained by hash, and
-- the per-seal hints that let rac verify name a tampered row.
--
-- A seal covers, for every ledger table, the rows whose tx_id lies in
-- [horizon_from, horizon_to); horizon_to was pg_snapshot_xmin when the
-- seal was made, so every such row was final. merkle_root is the RFC 6962
-- root over the canonical encoding (docs/canonical-encoding.md) of those
-- rows, table by table, each in id order; seal_hash covers every column of
-- the row (docs/tamper-evidence.md gives its bytes) including prev_hash,
-- the previous seal's seal_hash. Both tables are append-only.

-- +goose Up
CREATE TABLE rac.seals (
    -- The chain position: the first seal is 1, each next seal is its
    -- predecessor's id + 1. As the primary key it makes a fork impossible:
    -- two concurrent sealers that read the same head both try the same id,
    -- and one of them fails.
    id           bigint      PRIMARY KEY CHECK (id >= 1),
    version      smallint    NOT NULL CHECK (version = 1),
    horizon_from bigint      NOT NULL UNIQUE,
    horizon_to   bigint      NOT NULL,
    row_counts   bigint[]    NOT NULL CHECK (cardinality(row_counts) = 6 AND array_ndims(row_counts) = 1),
    merkle_root  bytea       NOT NULL CHECK (length(merkle_root) = 32),
    prev_hash    bytea       NOT NULL CHECK (length(prev_hash) = 32),
    seal_hash    bytea       NOT NULL UNIQUE CHECK (length(seal_hash) = 32),
    sealed_at    timestamptz NOT NULL,
    CHECK (horizon_from >= 0 AND horizon_from < horizon_to),
    CHECK ((id = 1) = (horizon_from = 0))
);

COMMENT ON TABLE rac.seals IS
    'Tamper-evidence seals: each covers the ledger rows with tx_id in [horizon_from, horizon_to) of every ledger table '
    '(row_counts in the order expectations, acks, findings, resolutions, verdicts, reconciliations) with an RFC 6962 '
    'merkle_root over their canonical encoding, chained by prev_hash. seal_hash covers every column. See docs/tamper-evidence.md.';
COMMENT ON COLUMN rac.seals.prev_hash IS 'seal_hash of seal id - 1; 32 zero bytes for seal 1.';

-- Locating hints, never trusted for detection: for each sealed table, the
-- first 8 bytes of every leaf hash, in chunks of at most 8192 rows. When a
-- recomputed root no longer matches, rac verify walks the rows against
-- these prefixes to name the edited, inserted or deleted row.
CREATE TABLE rac.seal_chunks (
    seal_id       bigint   NOT NULL REFERENCES rac.seals (id) DEFERRABLE INITIALLY DEFERRED,
    table_name    text     NOT NULL,
    chunk_no      int      NOT NULL CHECK (chunk_no >= 0),
    first_id      bigint   NOT NULL,
    last_id       bigint   NOT NULL,
    row_count     int      NOT NULL CHECK (row_count > 0),
    leaf_prefixes bytea    NOT NULL CHECK (length(leaf_prefixes) = 8 * row_count),
    PRIMARY KEY (seal_id, table_name, chunk_no)
);

COMMENT ON TABLE rac.seal_chunks IS
    'Per-seal locating hints for rac verify: the 8-byte prefix of each leaf hash, per table, in chunks. Not covered by '
    'seal_hash and not used for detection, only to name the tampered row.';

CREATE TRIGGER seals_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.seals
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER seal_chunks_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.seal_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();

-- Sealing reads each table by tx_id window; these two had no index on it.
CREATE INDEX run_verdicts_tx_id_brin ON rac.run_verdicts USING brin (tx_id) WITH (autosummarize = on);
CREATE INDEX reconciliations_tx_id_brin ON rac.reconciliations USING brin (tx_id) WITH (autosummarize = on);

-- The reconciler role seals (rac serve); it already reads every ledger table.
GRANT SELECT, INSERT ON rac.seals, rac.seal_chunks TO rac_reconciler;
-- Seals are a verification artifact: auditors may read them, to compare the
-- head with the one published elsewhere, through a view (auditors read
-- views only, as in 00003 and 00004), with the hashes in hex.
CREATE VIEW rac.seal_chain AS
SELECT s.id, s.version, s.horizon_from, s.horizon_to, s.row_counts,
       encode(s.merkle_root, 'hex') AS merkle_root, encode(s.prev_hash, 'hex') AS prev_hash,
       encode(s.seal_hash, 'hex') AS seal_hash, s.sealed_at
FROM rac.seals s;

COMMENT ON VIEW rac.seal_chain IS 'The seal chain with hashes in hex; the row with the largest id is the head to publish.';

GRANT SELECT ON rac.seal_chain TO rac_auditor;

-- +goose Down
DROP VIEW rac.seal_chain;
REVOKE ALL ON rac.seals, rac.seal_chunks FROM rac_reconciler;
DROP INDEX rac.reconciliations_tx_id_brin;
DROP INDEX rac.run_verdicts_tx_id_brin;
DROP TABLE rac.seal_chunks;
DROP TABLE rac.seals;
