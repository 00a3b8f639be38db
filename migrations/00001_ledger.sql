-- RAC Ledger core schema: catalog, tenants, expectations and acks.
--
-- Physical shape (see docs/schema.md): catalog entries and tenants are small
-- integer ids, the writing transaction's id is stored as a bigint (xid8 has
-- no BRIN operator class; the value is pg_current_xact_id() unchanged), and
-- append-ordered columns are indexed with BRIN. Every table is append-only.

-- +goose Up
CREATE SCHEMA rac;

COMMENT ON SCHEMA rac IS 'RAC Ledger: runtime audit contract expectations, acknowledgments and their reconciliation.';

-- rac.refuse_mutation is the statement-level trigger that keeps ledger
-- tables append-only. It fires even when the statement matches no row.
-- +goose StatementBegin
CREATE FUNCTION rac.refuse_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rac.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'RC001',
              HINT = 'Ledger history is never rewritten; record a new row instead.';
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.refuse_mutation() IS 'Refuses UPDATE, DELETE and TRUNCATE on append-only ledger tables (SQLSTATE RC001).';

CREATE TABLE rac.tenants (
    id         smallint    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

COMMENT ON TABLE rac.tenants IS 'Tenants of the ledger; id 1 is the tenant named default.';

INSERT INTO rac.tenants (name) VALUES ('default');

CREATE TABLE rac.contract_actions (
    id          smallint    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain      text        NOT NULL CHECK (domain ~ '^[a-z][a-z0-9_]{0,62}$'),
    action      text        NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]{0,62}$'),
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (domain, action)
);

COMMENT ON TABLE rac.contract_actions IS 'Catalog of known (domain, action) pairs; global, not per tenant.';

INSERT INTO rac.contract_actions (domain, action, description) VALUES
    ('incidents',    'create_incident', 'An incident record was created for the run.'),
    ('policies',     'evaluate_policy', 'A policy evaluation was recorded for the run.'),
    ('logs',         'start_trace',     'The run''s trace was started.'),
    ('logs',         'complete_trace',  'The run''s trace was completed.'),
    ('orchestrator', 'finalize_run',    'The orchestrator finalized the run.');

-- Column order puts fixed-width columns first so rows pack without padding.
CREATE TABLE rac.expectations (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id       bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    declared_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    deadline_at timestamptz,
    deadline_ms bigint      CHECK (deadline_ms > 0),
    run_id      uuid        NOT NULL,
    tenant_id   smallint    NOT NULL DEFAULT 1 REFERENCES rac.tenants (id),
    action_id   smallint    NOT NULL REFERENCES rac.contract_actions (id),
    declared_by text,
    metadata    jsonb,
    CHECK ((deadline_ms IS NULL) = (deadline_at IS NULL)),
    -- Led by run_id so a batch of runs contiguous in run_id order is one index range.
    CONSTRAINT expectations_run_action_key UNIQUE (run_id, tenant_id, action_id)
);

COMMENT ON TABLE rac.expectations IS 'What must happen in a run: one row per (tenant, run, domain, action), declared at T0 with a deadline. A NULL deadline is an invalid contract, recorded as declared.';
COMMENT ON COLUMN rac.expectations.tx_id IS 'pg_current_xact_id() of the declaring transaction, as bigint.';
COMMENT ON COLUMN rac.expectations.deadline_at IS 'declared_at + deadline_ms, from the database clock.';

CREATE INDEX expectations_tx_id_brin ON rac.expectations USING brin (tx_id) WITH (autosummarize = on);
CREATE INDEX expectations_deadline_at_idx ON rac.expectations (deadline_at) WHERE deadline_at IS NOT NULL;

-- Acks carry no b-tree on id: ids are append-ordered (BRIN finds them) and
-- the unique key below serves every by-run lookup. Keyless acks are never
-- deduplicated because NULL keys are distinct.
CREATE TABLE rac.acks (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    tx_id           bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    acked_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id          uuid        NOT NULL,
    tenant_id       smallint    NOT NULL DEFAULT 1 REFERENCES rac.tenants (id),
    action_id       smallint    NOT NULL REFERENCES rac.contract_actions (id),
    result_id       text,
    idempotency_key text,
    error           text,
    metadata        jsonb,
    CONSTRAINT acks_idempotency_key UNIQUE (run_id, tenant_id, action_id, idempotency_key)
);

COMMENT ON TABLE rac.acks IS 'What did happen: acknowledgments written by each domain inside its own transaction. error set = failure report.';
COMMENT ON COLUMN rac.acks.tx_id IS 'pg_current_xact_id() of the writing transaction, as bigint.';
COMMENT ON COLUMN rac.acks.acked_at IS 'When the domain wrote the ack (database clock); its transaction may commit later.';

CREATE INDEX acks_tx_id_brin ON rac.acks USING brin (tx_id) WITH (autosummarize = on);
CREATE INDEX acks_id_brin ON rac.acks USING brin (id) WITH (autosummarize = on);

CREATE TRIGGER tenants_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER contract_actions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.contract_actions
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER expectations_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.expectations
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER acks_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.acks
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();

-- +goose Down
DROP TABLE rac.acks;
DROP TABLE rac.expectations;
DROP TABLE rac.contract_actions;
DROP TABLE rac.tenants;
DROP FUNCTION rac.refuse_mutation();
DROP SCHEMA rac;
