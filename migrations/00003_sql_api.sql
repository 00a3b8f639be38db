-- The SQL API for services in any language, and the roles that use it.
--
-- rac.expect and rac.ack write one expectation or one ack inside the
-- caller's transaction, with the validation of the Go library; bad input
-- raises a documented SQLSTATE of class RC and writes nothing (see
-- docs/sql-api.md). Both are SECURITY DEFINER, so rac_writer needs no table
-- privilege at all; their search_path is pinned and every name they use is
-- schema-qualified.
--
-- SQLSTATEs (RC001, append-only, is raised by rac.refuse_mutation):
--   RC101 nil run id             RC105 value too long
--   RC102 malformed name         RC106 conflicting redeclaration
--   RC103 unknown domain/action  RC107 unknown tenant
--   RC104 deadline out of range

-- +goose Up

-- Roles are cluster-wide and every database of the cluster may run this
-- migration, concurrently too: create each role only when it is missing,
-- and take a concurrent creation by another database's migration as done.
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT * FROM (VALUES
            ('rac_writer',     'RAC Ledger: may call rac.expect and rac.ack, nothing else.'),
            ('rac_reconciler', 'RAC Ledger: reads the ledger and appends reconciliation history.'),
            ('rac_auditor',    'RAC Ledger: reads the report views.')
        ) AS v (name, description)
    LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r.name);
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
            EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, r.description);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created meanwhile by another database's migration
        END;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- rac.current_tenant: the id of the session's tenant, named by the setting
-- rac.tenant (SET rac.tenant = 'acme'); unset or empty means the tenant
-- named default. It selects, it does not authenticate: any session may set
-- it. Row-level security policies should call it as (SELECT
-- rac.current_tenant()) so it runs once per statement, not once per row.
-- +goose StatementBegin
CREATE FUNCTION rac.current_tenant() RETURNS smallint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := coalesce(nullif(current_setting('rac.tenant', true), ''), 'default');
    v_id   smallint;
BEGIN
    SELECT t.id INTO v_id FROM rac.tenants t WHERE t.name = v_name;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'rac: unknown tenant: % (setting rac.tenant) is not in rac.tenants', pg_catalog.quote_literal(v_name)
            USING ERRCODE = 'RC107', COLUMN = 'tenant',
                  HINT = 'Set rac.tenant to an existing tenant name, or add the tenant to rac.tenants.';
    END IF;
    RETURN v_id;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.current_tenant() IS
    'Id of the session''s tenant, named by the setting rac.tenant (unset or empty: default). Unknown tenant: SQLSTATE RC107.';

-- rac.check_pair validates a domain and action name and returns the
-- action's catalog id. Not granted to anyone: only the write functions,
-- running as the owner, call it.
-- +goose StatementBegin
CREATE FUNCTION rac.check_pair(fn text, domain text, action text) RETURNS smallint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_pattern constant text := '^[a-z][a-z0-9_]{0,62}$';
    v_id      smallint;
BEGIN
    IF check_pair.domain IS NULL OR check_pair.domain !~ v_pattern THEN
        RAISE EXCEPTION '%: invalid domain: % does not match %', check_pair.fn,
                pg_catalog.quote_nullable(check_pair.domain), v_pattern
            USING ERRCODE = 'RC102', COLUMN = 'domain';
    END IF;
    IF check_pair.action IS NULL OR check_pair.action !~ v_pattern THEN
        RAISE EXCEPTION '%: invalid action: % does not match %', check_pair.fn,
                pg_catalog.quote_nullable(check_pair.action), v_pattern
            USING ERRCODE = 'RC102', COLUMN = 'action';
    END IF;
    SELECT c.id INTO v_id FROM rac.contract_actions c
    WHERE c.domain = check_pair.domain AND c.action = check_pair.action;
    IF v_id IS NULL THEN
        RAISE EXCEPTION '%: unknown action: %/% is not in rac.contract_actions', check_pair.fn,
                check_pair.domain, check_pair.action
            USING ERRCODE = 'RC103', COLUMN = 'action',
                  HINT = 'Register the pair first: INSERT INTO rac.contract_actions (domain, action) VALUES (...).';
    END IF;
    RETURN v_id;
END;
$$;
-- +goose StatementEnd

-- rac.check_length refuses a value longer than limit bytes (its text form
-- for jsonb) with RC105.
-- +goose StatementBegin
CREATE FUNCTION rac.check_length(fn text, field text, bytes int, lim int) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF bytes > lim THEN
        RAISE EXCEPTION '%: invalid %: % bytes, at most %', fn, field, bytes, lim
            USING ERRCODE = 'RC105', COLUMN = field;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION rac.expect(
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

-- +goose StatementBegin
CREATE FUNCTION rac.ack(
    run_id          uuid,
    domain          text,
    action          text,
    result_id       text  DEFAULT NULL,
    error           text  DEFAULT NULL,
    idempotency_key text  DEFAULT NULL,
    metadata        jsonb DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_action smallint;
    v_tenant smallint;
BEGIN
    IF ack.run_id IS NULL OR ack.run_id = '00000000-0000-0000-0000-000000000000' THEN
        RAISE EXCEPTION 'rac.ack: invalid run_id: % is the nil UUID', coalesce(ack.run_id::text, 'NULL')
            USING ERRCODE = 'RC101', COLUMN = 'run_id';
    END IF;
    v_action := rac.check_pair('rac.ack', ack.domain, ack.action);
    PERFORM rac.check_length('rac.ack', 'result_id', octet_length(ack.result_id), 256),
            rac.check_length('rac.ack', 'idempotency_key', octet_length(ack.idempotency_key), 256),
            rac.check_length('rac.ack', 'error', octet_length(ack.error), 8192),
            rac.check_length('rac.ack', 'metadata', octet_length(ack.metadata::text), 65536);
    v_tenant := rac.current_tenant();

    INSERT INTO rac.acks AS a (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata)
    VALUES (v_tenant, ack.run_id, v_action,
            nullif(ack.result_id, ''), nullif(ack.idempotency_key, ''), nullif(ack.error, ''), ack.metadata)
    ON CONFLICT (tenant_id, run_id, action_id, idempotency_key) DO NOTHING;
    RETURN FOUND;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.ack(uuid, text, text, text, text, text, jsonb) IS
    'Records one ack of the session''s tenant in the caller''s transaction. true: written; false: the idempotency key was '
    'used before for this run, domain and action. Empty strings are stored as NULL. Bad input: SQLSTATE RC101-RC107.';

-- Functions are executable by PUBLIC unless revoked; only the roles below
-- may call these.
REVOKE ALL ON FUNCTION rac.current_tenant() FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.check_pair(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.check_length(text, text, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.expect(uuid, text, text, interval, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.ack(uuid, text, text, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.refuse_mutation() FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval) FROM PUBLIC;

-- rac_writer: the write functions and nothing else, no table privilege.
GRANT USAGE ON SCHEMA rac TO rac_writer;
GRANT EXECUTE ON FUNCTION rac.expect(uuid, text, text, interval, text, jsonb) TO rac_writer;
GRANT EXECUTE ON FUNCTION rac.ack(uuid, text, text, text, text, text, jsonb) TO rac_writer;
GRANT EXECUTE ON FUNCTION rac.current_tenant() TO rac_writer;

-- rac_reconciler: reads the ledger, appends reconciliation history. It
-- takes rac.reconciliations ids with nextval() itself, hence USAGE on that
-- sequence; the other identity columns need no sequence privilege.
GRANT USAGE ON SCHEMA rac TO rac_reconciler;
GRANT SELECT ON rac.expectations, rac.acks, rac.tenants, rac.contract_actions TO rac_reconciler;
GRANT SELECT, INSERT ON rac.reconciliations, rac.findings, rac.finding_resolutions, rac.run_verdicts TO rac_reconciler;
GRANT USAGE ON SEQUENCE rac.reconciliations_id_seq TO rac_reconciler;
GRANT EXECUTE ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval)
    TO rac_reconciler;

-- rac_auditor: the report views. A view's tables are read with its
-- owner's privileges but its functions run with the reader's, so report
-- views that compute a status need rac.action_state (it reads no data).
GRANT USAGE ON SCHEMA rac TO rac_auditor;
GRANT SELECT ON rac.open_findings, rac.run_status TO rac_auditor;
GRANT EXECUTE ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval)
    TO rac_auditor;

-- +goose Down
-- The roles stay: they are cluster-wide and other databases may use them.
REVOKE ALL ON rac.open_findings, rac.run_status FROM rac_auditor;
REVOKE ALL ON rac.expectations, rac.acks, rac.tenants, rac.contract_actions,
              rac.reconciliations, rac.findings, rac.finding_resolutions, rac.run_verdicts FROM rac_reconciler;
REVOKE ALL ON SEQUENCE rac.reconciliations_id_seq FROM rac_reconciler;
REVOKE ALL ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval)
    FROM rac_reconciler, rac_auditor;
REVOKE ALL ON SCHEMA rac FROM rac_writer, rac_reconciler, rac_auditor;
GRANT EXECUTE ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval) TO PUBLIC;
GRANT EXECUTE ON FUNCTION rac.refuse_mutation() TO PUBLIC;
DROP FUNCTION rac.ack(uuid, text, text, text, text, text, jsonb);
DROP FUNCTION rac.expect(uuid, text, text, interval, text, jsonb);
DROP FUNCTION rac.check_length(text, text, int, int);
DROP FUNCTION rac.check_pair(text, text, text);
DROP FUNCTION rac.current_tenant();
