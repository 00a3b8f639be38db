-- rac_writer serves the Go library as well as the SQL functions. The
-- library writes with plain INSERTs inside the service's own transaction,
-- under the service's login, so a member of rac_writer gets exactly what
-- those statements touch, column by column (docs/sql-api.md, "Roles"):
--   rac.tenants, rac.contract_actions  SELECT: names to ids (the catalog)
--   rac.expectations  SELECT of the key and deadline (a redeclaration's
--                     conflict check), INSERT of the declared columns
--   rac.acks          INSERT of the written columns, SELECT of the
--                     idempotency key (the batch insert's conflict target)
--                     and of what it returns (action, failed)
-- No privilege covers id, tx_id or the creation times the server stamps:
-- a writer can neither choose an identity id (OVERRIDING SYSTEM VALUE
-- needs INSERT on the id column) nor a transaction id. Row-level security
-- (migration 00006) still limits every read and write to the session's
-- tenants and checks declared_at and deadline_at against the clock.

-- +goose Up
GRANT SELECT ON rac.tenants, rac.contract_actions TO rac_writer;
GRANT SELECT (run_id, tenant_id, action_id, deadline_ms) ON rac.expectations TO rac_writer;
GRANT INSERT (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, metadata)
    ON rac.expectations TO rac_writer;
GRANT SELECT (run_id, tenant_id, action_id, idempotency_key, error) ON rac.acks TO rac_writer;
GRANT INSERT (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata) ON rac.acks TO rac_writer;

-- +goose Down
REVOKE INSERT (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata) ON rac.acks FROM rac_writer;
REVOKE SELECT (run_id, tenant_id, action_id, idempotency_key, error) ON rac.acks FROM rac_writer;
REVOKE INSERT (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, metadata)
    ON rac.expectations FROM rac_writer;
REVOKE SELECT (run_id, tenant_id, action_id, deadline_ms) ON rac.expectations FROM rac_writer;
REVOKE SELECT ON rac.tenants, rac.contract_actions FROM rac_writer;
