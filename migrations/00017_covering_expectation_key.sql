-- The expectations' unique key carries the two columns the reconciler's
-- candidate statement reads from every expectation of its window:
-- deadline_at and tx_id. The statement pairs a window's expectations with
-- its acks by a merge join in run order over the two unique keys; with
-- these columns in the key's index the expectation side is an index-only
-- scan, where it was an index scan that fetched every row from the heap in
-- random order (docs/performance.md, "How a pass spends its time": on a
-- 1M-run backlog the candidate statement went from 3.3 s to 2.3 s). The
-- key itself, (run_id, tenant_id, action_id), is unchanged, and so are its
-- name, the ON CONFLICT targets that infer it and what it refuses; the
-- included columns are stored in the index's leaf entries only, 16 bytes
-- each.
--
-- The new index is built with CREATE INDEX CONCURRENTLY, so writers are
-- not blocked while it is built on a large ledger, and then takes the
-- constraint's place in one ALTER TABLE. A build interrupted half-way
-- leaves an invalid index behind, which the first statement removes when
-- the migration is run again.

-- +goose NO TRANSACTION

-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS rac.expectations_run_action_covering;
CREATE UNIQUE INDEX CONCURRENTLY expectations_run_action_covering
    ON rac.expectations (run_id, tenant_id, action_id) INCLUDE (deadline_at, tx_id);
ALTER TABLE rac.expectations
    DROP CONSTRAINT expectations_run_action_key,
    ADD CONSTRAINT expectations_run_action_key UNIQUE USING INDEX expectations_run_action_covering;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS rac.expectations_run_action_plain;
CREATE UNIQUE INDEX CONCURRENTLY expectations_run_action_plain
    ON rac.expectations (run_id, tenant_id, action_id);
ALTER TABLE rac.expectations
    DROP CONSTRAINT expectations_run_action_key,
    ADD CONSTRAINT expectations_run_action_key UNIQUE USING INDEX expectations_run_action_plain;
