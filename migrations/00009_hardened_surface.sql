-- A hardened SQL surface: every function of schema rac pins its
-- search_path, the tables carry the limits the write API enforces, and no
-- writer chooses or duplicates an identity id (docs/sql-api.md, "Hardening").
--
-- search_path. A function without a pinned search_path resolves the names
-- in its body (functions, operators, types) with the caller's search_path,
-- so a caller with a schema of its own first on it could substitute, for
-- example, its own pg_has_role in rac.sees_whole_ledger(), the guard that
-- keeps passes and seals away from sessions that see only some tenants.
-- Each function now runs with search_path = pg_catalog, pg_temp, and the
-- guard names every function and operator it uses with pg_catalog too;
-- rac.action_state, which must stay inlinable, instead has a SQL-standard
-- body, whose names are resolved when it is created.
--
-- Limits. rac.expect and rac.ack refuse values over their limits (RC105)
-- and deadlines out of range (RC104); a role with INSERT on the tables (the
-- Go library's path) met no such limit. The same limits are now CHECK
-- constraints, and declared_by has one (256 bytes) in the API, the library
-- and the table. The constraints are added NOT VALID: they bind every new
-- row without scanning the append-only history (ALTER TABLE ... VALIDATE
-- CONSTRAINT checks the old rows).
--
-- Identity ids. GENERATED ALWAYS lets anyone with INSERT supply an id with
-- OVERRIDING SYSTEM VALUE. A row trigger now accepts an id only when it is
-- the value this session last took from the column's sequence (the one the
-- column default just took, or the reconciler's own nextval for
-- rac.reconciliations); rac.acks, which has no unique index on id, also
-- refuses the id of the session's previous ack. An id supplied by a
-- session that never took one from the sequence fails with SQLSTATE 55000
-- (currval not yet defined in this session), any other with RC120.
--
-- SQLSTATE RC120: an identity id the session did not take from its sequence.

-- +goose Up

ALTER FUNCTION rac.refuse_mutation() SET search_path = pg_catalog, pg_temp;

-- rac.action_state (migration 00002) keeps its rules but gets a
-- SQL-standard body: its names and operators are resolved once, here,
-- against pg_catalog, and stored resolved, so no caller's search_path
-- reaches them. A SET search_path clause would do the same but stop the
-- planner from inlining it into the reconciler's batch statement and the
-- report views, which would then call it once per row.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.action_state(
    expected boolean, deadline_at timestamptz, first_success_at timestamptz, first_error_at timestamptz,
    as_of timestamptz, grace interval
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE
    WHEN NOT expected THEN 'drift'
    WHEN first_success_at IS NOT NULL
         AND (deadline_at IS NULL
              OR first_success_at OPERATOR(pg_catalog.<=) (deadline_at OPERATOR(pg_catalog.+) grace)) THEN 'acked'
    WHEN first_success_at IS NOT NULL THEN 'late'
    WHEN first_error_at IS NOT NULL THEN 'failed'
    WHEN deadline_at IS NULL OR as_of OPERATOR(pg_catalog.<) (deadline_at OPERATOR(pg_catalog.+) grace) THEN 'pending'
    ELSE 'missing'
END;
-- +goose StatementEnd

-- rac.sees_whole_ledger (migration 00006), with a pinned search_path and
-- every name qualified.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.sees_whole_ledger() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT (pg_catalog.row_security_active('rac.expectations'::pg_catalog.regclass)
                OR pg_catalog.row_security_active('rac.acks'::pg_catalog.regclass)
                OR pg_catalog.row_security_active('rac.findings'::pg_catalog.regclass)
                OR pg_catalog.row_security_active('rac.finding_resolutions'::pg_catalog.regclass)
                OR pg_catalog.row_security_active('rac.run_verdicts'::pg_catalog.regclass))
        OR pg_catalog.pg_has_role(current_user, 'rac_reconciler', 'MEMBER')
        OR NOT EXISTS (SELECT 1 FROM rac.tenants t
                       WHERE NOT t.id OPERATOR(pg_catalog.=) ANY (rac.tenant_scope()))
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.sees_whole_ledger() IS
    'Whether this session reads every ledger row: no row-level security for it, a rac_reconciler member, or a scope of every tenant.';

-- rac.expect (migration 00003) also refuses a declared_by over 256 bytes.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.expect(
    run_id      uuid,
    domain      text,
    action      text,
    deadline    interval,
    declared_by text  DEFAULT NULL,
    metadata    jsonb DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    -- ledger.MaxDeadline: 10 * 366 days.
    v_max_ms   constant bigint := 10 * 366 * 86400 * 1000::bigint;
    v_exact_ms numeric;
    v_ms       bigint;
    v_tenant   smallint;
    v_action   smallint;
    v_now      timestamptz;
    v_stored   bigint;
BEGIN
    IF expect.run_id IS NULL OR expect.run_id = '00000000-0000-0000-0000-000000000000' THEN
        RAISE EXCEPTION 'rac.expect: invalid run_id: % is the nil UUID', coalesce(expect.run_id::text, 'NULL')
            USING ERRCODE = 'RC101', COLUMN = 'run_id';
    END IF;
    v_action := rac.check_pair('rac.expect', expect.domain, expect.action);
    -- A NULL deadline is recorded as declared: an invalid contract that
    -- the reconciler reports. Raising would lose the evidence.
    IF expect.deadline IS NOT NULL THEN
        -- Months count as 30 days and years as 365.25 (extract(epoch)).
        v_exact_ms := extract(epoch FROM expect.deadline) * 1000;
        IF v_exact_ms < 1 OR v_exact_ms > v_max_ms THEN
            RAISE EXCEPTION 'rac.expect: invalid deadline: % is outside [1 millisecond, 3660 days]', expect.deadline
                USING ERRCODE = 'RC104', COLUMN = 'deadline';
        END IF;
        v_ms := floor(v_exact_ms);
    END IF;
    PERFORM rac.check_length('rac.expect', 'declared_by', octet_length(expect.declared_by), 256),
            rac.check_length('rac.expect', 'metadata', octet_length(expect.metadata::text), 65536);
    v_tenant := rac.current_tenant();

    -- declared_at and deadline_at come from one reading of the clock.
    v_now := clock_timestamp();
    INSERT INTO rac.expectations AS e (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, metadata)
    VALUES (v_tenant, expect.run_id, v_action, v_ms, v_now, v_now + v_ms * interval '1 millisecond',
            nullif(expect.declared_by, ''), expect.metadata)
    ON CONFLICT (tenant_id, run_id, action_id) DO NOTHING;
    IF FOUND THEN
        RETURN true;
    END IF;

    -- Declared before (by this or a committed transaction): the same
    -- deadline is a no-op, another one a conflict.
    SELECT e.deadline_ms INTO v_stored FROM rac.expectations e
    WHERE e.run_id = expect.run_id AND e.tenant_id = v_tenant AND e.action_id = v_action;
    IF v_stored IS DISTINCT FROM v_ms THEN
        RAISE EXCEPTION 'rac.expect: conflicting deadline: run % %/% was declared with deadline %, not %',
                expect.run_id, expect.domain, expect.action,
                coalesce(v_stored || ' ms', 'NULL'), coalesce(v_ms || ' ms', 'NULL')
            USING ERRCODE = 'RC106', COLUMN = 'deadline';
    END IF;
    RETURN false;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.expect(uuid, text, text, interval, text, jsonb) IS
    'Declares one expectation of the session''s tenant in the caller''s transaction. true: written; false: declared before '
    'with the same deadline. A NULL deadline is recorded as an invalid contract. Bad input: SQLSTATE RC101-RC107 '
    '(declared_by: at most 256 bytes).';

-- The API's limits as table constraints (bytes; jsonb by its text form, as
-- rac.check_length measures it).
ALTER TABLE rac.acks
    ADD CONSTRAINT acks_result_id_bytes CHECK (octet_length(result_id) <= 256) NOT VALID,
    ADD CONSTRAINT acks_idempotency_key_bytes CHECK (octet_length(idempotency_key) <= 256) NOT VALID,
    ADD CONSTRAINT acks_error_bytes CHECK (octet_length(error) <= 8192) NOT VALID,
    ADD CONSTRAINT acks_metadata_bytes CHECK (octet_length(metadata::text) <= 65536) NOT VALID;
-- The deadline range of rac.expect and ledger.MaxDeadline: [1 ms, 10 * 366
-- days]. (Row-level security already holds a bound writer's deadline_at to
-- declared_at + deadline_ms.)
ALTER TABLE rac.expectations
    ADD CONSTRAINT expectations_declared_by_bytes CHECK (octet_length(declared_by) <= 256) NOT VALID,
    ADD CONSTRAINT expectations_metadata_bytes CHECK (octet_length(metadata::text) <= 65536) NOT VALID,
    ADD CONSTRAINT expectations_deadline_range CHECK (deadline_ms BETWEEN 1 AND 316224000000) NOT VALID;
-- rac.waive's limits.
ALTER TABLE rac.finding_resolutions
    ADD CONSTRAINT finding_resolutions_actor_bytes CHECK (octet_length(actor) <= 256) NOT VALID,
    ADD CONSTRAINT finding_resolutions_reason_bytes CHECK (octet_length(reason) <= 4096) NOT VALID;

-- rac.guard_identity: a row's id must be the value this session last took
-- from the sequence named by the trigger's argument. The column default
-- takes it just before this trigger fires; OVERRIDING SYSTEM VALUE with any
-- other id fails. SECURITY DEFINER: currval needs a sequence privilege
-- writers do not hold. On a table with a primary key on id that is enough:
-- the key refuses a second row with the same id.
-- +goose StatementBegin
CREATE FUNCTION rac.guard_identity() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM pg_catalog.currval(TG_ARGV[0]::pg_catalog.regclass) THEN
        RAISE EXCEPTION 'rac.%: id % was not taken from % by this session', TG_TABLE_NAME, NEW.id, TG_ARGV[0]
            USING ERRCODE = 'RC120', COLUMN = 'id',
                  HINT = 'Leave id to its default: identity ids are the sequence''s, not the writer''s.';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.guard_identity() IS
    'Row trigger: refuses an id that is not the value this session last took from the sequence named by the trigger '
    'argument (SQLSTATE RC120; 55000 when the session took none).';

-- rac.guard_ack_identity: as rac.guard_identity; and since rac.acks has no
-- unique index on id, it also refuses the id of this session's previous
-- ack (the setting rac.last_ack_id remembers it; a rollback restores its
-- earlier value, and that ack is gone too).
-- +goose StatementBegin
CREATE FUNCTION rac.guard_ack_identity() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM pg_catalog.currval('rac.acks_id_seq'::pg_catalog.regclass)
       OR NEW.id::text = pg_catalog.current_setting('rac.last_ack_id', true) THEN
        RAISE EXCEPTION 'rac.acks: id % was not taken from rac.acks_id_seq for this ack', NEW.id
            USING ERRCODE = 'RC120', COLUMN = 'id',
                  HINT = 'Leave id to its default: identity ids are the sequence''s, not the writer''s.';
    END IF;
    PERFORM pg_catalog.set_config('rac.last_ack_id', NEW.id::text, false);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.guard_ack_identity() IS
    'Row trigger on rac.acks: refuses an id that is not the value this session last took from rac.acks_id_seq, or that '
    'this session''s previous ack had (SQLSTATE RC120; 55000 when the session took none).';

-- Trigger functions are not checked for EXECUTE when they fire.
REVOKE ALL ON FUNCTION rac.guard_identity() FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.guard_ack_identity() FROM PUBLIC;

CREATE TRIGGER acks_identity_guard BEFORE INSERT ON rac.acks
    FOR EACH ROW EXECUTE FUNCTION rac.guard_ack_identity();
CREATE TRIGGER expectations_identity_guard BEFORE INSERT ON rac.expectations
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.expectations_id_seq');
CREATE TRIGGER tenants_identity_guard BEFORE INSERT ON rac.tenants
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.tenants_id_seq');
CREATE TRIGGER contract_actions_identity_guard BEFORE INSERT ON rac.contract_actions
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.contract_actions_id_seq');
CREATE TRIGGER reconciliations_identity_guard BEFORE INSERT ON rac.reconciliations
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.reconciliations_id_seq');
CREATE TRIGGER findings_identity_guard BEFORE INSERT ON rac.findings
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.findings_id_seq');
CREATE TRIGGER finding_resolutions_identity_guard BEFORE INSERT ON rac.finding_resolutions
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.finding_resolutions_id_seq');
CREATE TRIGGER run_verdicts_identity_guard BEFORE INSERT ON rac.run_verdicts
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.run_verdicts_id_seq');
CREATE TRIGGER rejudge_requests_identity_guard BEFORE INSERT ON rac.rejudge_requests
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.rejudge_requests_id_seq');

-- +goose Down
DROP TRIGGER rejudge_requests_identity_guard ON rac.rejudge_requests;
DROP TRIGGER run_verdicts_identity_guard ON rac.run_verdicts;
DROP TRIGGER finding_resolutions_identity_guard ON rac.finding_resolutions;
DROP TRIGGER findings_identity_guard ON rac.findings;
DROP TRIGGER reconciliations_identity_guard ON rac.reconciliations;
DROP TRIGGER contract_actions_identity_guard ON rac.contract_actions;
DROP TRIGGER tenants_identity_guard ON rac.tenants;
DROP TRIGGER expectations_identity_guard ON rac.expectations;
DROP TRIGGER acks_identity_guard ON rac.acks;
DROP FUNCTION rac.guard_ack_identity();
DROP FUNCTION rac.guard_identity();

ALTER TABLE rac.finding_resolutions
    DROP CONSTRAINT finding_resolutions_reason_bytes,
    DROP CONSTRAINT finding_resolutions_actor_bytes;
ALTER TABLE rac.expectations
    DROP CONSTRAINT expectations_deadline_range,
    DROP CONSTRAINT expectations_metadata_bytes,
    DROP CONSTRAINT expectations_declared_by_bytes;
ALTER TABLE rac.acks
    DROP CONSTRAINT acks_metadata_bytes,
    DROP CONSTRAINT acks_error_bytes,
    DROP CONSTRAINT acks_idempotency_key_bytes,
    DROP CONSTRAINT acks_result_id_bytes;

-- rac.expect as in migration 00003.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.expect(
    run_id      uuid,
    domain      text,
    action      text,
    deadline    interval,
    declared_by text  DEFAULT NULL,
    metadata    jsonb DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    -- ledger.MaxDeadline: 10 * 366 days.
    v_max_ms   constant bigint := 10 * 366 * 86400 * 1000::bigint;
    v_exact_ms numeric;
    v_ms       bigint;
    v_tenant   smallint;
    v_action   smallint;
    v_now      timestamptz;
    v_stored   bigint;
BEGIN
    IF expect.run_id IS NULL OR expect.run_id = '00000000-0000-0000-0000-000000000000' THEN
        RAISE EXCEPTION 'rac.expect: invalid run_id: % is the nil UUID', coalesce(expect.run_id::text, 'NULL')
            USING ERRCODE = 'RC101', COLUMN = 'run_id';
    END IF;
    v_action := rac.check_pair('rac.expect', expect.domain, expect.action);
    -- A NULL deadline is recorded as declared: an invalid contract that
    -- the reconciler reports. Raising would lose the evidence.
    IF expect.deadline IS NOT NULL THEN
        -- Months count as 30 days and years as 365.25 (extract(epoch)).
        v_exact_ms := extract(epoch FROM expect.deadline) * 1000;
        IF v_exact_ms < 1 OR v_exact_ms > v_max_ms THEN
            RAISE EXCEPTION 'rac.expect: invalid deadline: % is outside [1 millisecond, 3660 days]', expect.deadline
                USING ERRCODE = 'RC104', COLUMN = 'deadline';
        END IF;
        v_ms := floor(v_exact_ms);
    END IF;
    PERFORM rac.check_length('rac.expect', 'metadata', octet_length(expect.metadata::text), 65536);
    v_tenant := rac.current_tenant();

    -- declared_at and deadline_at come from one reading of the clock.
    v_now := clock_timestamp();
    INSERT INTO rac.expectations AS e (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, metadata)
    VALUES (v_tenant, expect.run_id, v_action, v_ms, v_now, v_now + v_ms * interval '1 millisecond',
            nullif(expect.declared_by, ''), expect.metadata)
    ON CONFLICT (tenant_id, run_id, action_id) DO NOTHING;
    IF FOUND THEN
        RETURN true;
    END IF;

    -- Declared before (by this or a committed transaction): the same
    -- deadline is a no-op, another one a conflict.
    SELECT e.deadline_ms INTO v_stored FROM rac.expectations e
    WHERE e.run_id = expect.run_id AND e.tenant_id = v_tenant AND e.action_id = v_action;
    IF v_stored IS DISTINCT FROM v_ms THEN
        RAISE EXCEPTION 'rac.expect: conflicting deadline: run % %/% was declared with deadline %, not %',
                expect.run_id, expect.domain, expect.action,
                coalesce(v_stored || ' ms', 'NULL'), coalesce(v_ms || ' ms', 'NULL')
            USING ERRCODE = 'RC106', COLUMN = 'deadline';
    END IF;
    RETURN false;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.expect(uuid, text, text, interval, text, jsonb) IS
    'Declares one expectation of the session''s tenant in the caller''s transaction. true: written; false: declared before '
    'with the same deadline. A NULL deadline is recorded as an invalid contract. Bad input: SQLSTATE RC101-RC107.';

-- rac.sees_whole_ledger as in migration 00006.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.sees_whole_ledger() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT (row_security_active('rac.expectations'::regclass) OR row_security_active('rac.acks'::regclass)
                OR row_security_active('rac.findings'::regclass)
                OR row_security_active('rac.finding_resolutions'::regclass)
                OR row_security_active('rac.run_verdicts'::regclass))
        OR pg_has_role(current_user, 'rac_reconciler', 'MEMBER')
        OR NOT EXISTS (SELECT 1 FROM rac.tenants t WHERE NOT t.id = ANY (rac.tenant_scope()))
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.sees_whole_ledger() IS
    'Whether this session reads every ledger row: no row-level security for it, a rac_reconciler member, or a scope of every tenant.';

-- rac.action_state as in migration 00002.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.action_state(
    expected boolean, deadline_at timestamptz, first_success_at timestamptz, first_error_at timestamptz,
    as_of timestamptz, grace interval
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN NOT expected THEN 'drift'
        WHEN first_success_at IS NOT NULL AND (deadline_at IS NULL OR first_success_at <= deadline_at + grace) THEN 'acked'
        WHEN first_success_at IS NOT NULL THEN 'late'
        WHEN first_error_at IS NOT NULL THEN 'failed'
        WHEN deadline_at IS NULL OR as_of < deadline_at + grace THEN 'pending'
        ELSE 'missing'
    END
$$;
-- +goose StatementEnd
ALTER FUNCTION rac.refuse_mutation() RESET search_path;
