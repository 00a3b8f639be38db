-- Authorship and per-domain authorization (docs/sql-api.md, "Authors" and
-- "Domains").
--
-- Authors. Every expectation, ack and resolution written from now on
-- records the login role that wrote it: session_user, the authenticated
-- login, not current_user (SET ROLE and SECURITY DEFINER functions change
-- current_user, never session_user). Rows store a small id into
-- rac.authors, which keeps each role's name as it was when the role first
-- wrote (with its oid, so a role dropped and created again under the same
-- name is a different author). A claimed name (declared_by, a waiver's
-- actor) stays beside it. Rows written before this migration have no
-- author (NULL): nothing recorded who wrote them.
--
-- Row-level security holds every bound writer (a service using the Go
-- library, rac_reconciler) to its own author id; the SQL functions, which
-- run as the schema owner, record it themselves. An insert that leaves
-- author_id out gets the writer's id from the column default.
--
-- Domains. rac.domain_roles pins a role (and the members of a group role)
-- to domains, per privilege:
--   ack     the role may ack only actions of these domains;
--   expect  the role may declare expectations only for these domains.
-- A NULL domain means every domain. A role with any row is pinned: it may
-- do only what its rows allow, so a domain service mapped for ack alone
-- cannot declare. A role with no row (and superusers) keeps every domain,
-- so single-team ledgers that map nothing never notice. The usual setup:
-- each domain service ('incidents', ack), the orchestrator
-- ('orchestrator', ack) and (NULL, expect), as it declares every domain's
-- expectations at T0.
--
-- SQLSTATEs: RC112 the role may not ack the action's domain; RC113 the
-- role may not declare expectations for the action's domain.

-- +goose Up

CREATE TABLE rac.authors (
    id         integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    role_name  name        NOT NULL,
    role_oid   oid         NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Not unique: a role's first write registers it inside the writer's own
-- transaction, and a unique key would make every other transaction of that
-- role wait until the first one ends (a service holding a transaction open
-- would stall its own pool). Two transactions that register a role at once
-- each add a row; both ids name the same role, and lookups take the
-- smallest committed one.
CREATE INDEX authors_role ON rac.authors (role_name, role_oid, id);

COMMENT ON TABLE rac.authors IS
    'The login roles that wrote ledger rows: rows name their author by id. role_name is the name when the role first '
    'wrote; a role created again under a dropped role''s name is a new author (another role_oid). A role registered by '
    'two transactions at once has two ids. Append-only.';

CREATE TRIGGER authors_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.authors
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER authors_identity_guard BEFORE INSERT ON rac.authors
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.authors_id_seq');

-- rac.author_id: the author id of session_user, registered on first use.
-- VOLATILE so it sees a registration made earlier in the same statement
-- (its own, or a column default's). Registering writes a row in the
-- caller's transaction and never waits for another one.
-- +goose StatementBegin
CREATE FUNCTION rac.author_id() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_oid oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user);
    v_id  integer;
BEGIN
    SELECT min(a.id) INTO v_id FROM rac.authors a WHERE a.role_name = session_user AND a.role_oid = v_oid;
    IF v_id IS NULL THEN
        INSERT INTO rac.authors (role_name, role_oid) VALUES (session_user, v_oid) RETURNING id INTO v_id;
    END IF;
    RETURN v_id;
END;
$$;
-- +goose StatementEnd

-- rac.is_session_author: whether author id names the session's login role.
-- VOLATILE, for the same reason as rac.author_id: the write policies ask
-- it only when a row's author is not the one the statement's snapshot
-- shows, i.e. the role registered during the statement.
-- +goose StatementBegin
CREATE FUNCTION rac.is_session_author(author integer) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM rac.authors a
                   WHERE a.id = author AND a.role_name = session_user
                     AND a.role_oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user))
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.is_session_author(integer) IS
    'Whether the rac.authors id names the session''s login role (session_user).';
GRANT EXECUTE ON FUNCTION rac.is_session_author(integer) TO PUBLIC;

COMMENT ON FUNCTION rac.author_id() IS
    'The rac.authors id of the session''s login role (session_user), registering the role on its first write.';

-- Anyone may register and look up themselves; names of roles are no secret
-- (pg_roles shows them to everyone).
GRANT EXECUTE ON FUNCTION rac.author_id() TO PUBLIC;
GRANT SELECT ON rac.authors TO PUBLIC;

CREATE TABLE rac.domain_roles (
    role_name  name        NOT NULL,
    domain     text        CHECK (domain ~ '^[a-z][a-z0-9_]{0,62}$'),
    privilege  text        NOT NULL DEFAULT 'ack' CHECK (privilege IN ('ack', 'expect')),
    granted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT domain_roles_once UNIQUE NULLS NOT DISTINCT (role_name, domain, privilege)
);

COMMENT ON TABLE rac.domain_roles IS
    'Pins a role (and the members of a group role) to domains: with privilege ack it may ack only actions of these '
    'domains, with expect declare expectations only for them. domain NULL: every domain. A role with any row may do only '
    'what its rows allow; a role with none may do both for every domain. Configuration, not history: delete a row to unmap.';

-- Policies of every writer read it (the fast path: nothing mapped).
GRANT SELECT ON rac.domain_roles TO PUBLIC;

-- rac.domain_scope: the action ids the session may write for privilege
-- ('ack' or 'expect'); NULL when the session is not pinned (no mapping
-- applies to it, or a superuser). STABLE: policies call it once per
-- statement.
-- +goose StatementBegin
CREATE FUNCTION rac.domain_scope(privilege text) RETURNS smallint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_pinned  boolean;
    v_all     boolean;
    v_domains text[];
BEGIN
    IF NOT EXISTS (SELECT FROM rac.domain_roles) THEN
        RETURN NULL;
    END IF;
    SELECT count(*) > 0,
           coalesce(bool_or(m.domain IS NULL) FILTER (WHERE m.privilege = domain_scope.privilege), false),
           array_agg(DISTINCT m.domain) FILTER (WHERE m.privilege = domain_scope.privilege AND m.domain IS NOT NULL)
    INTO v_pinned, v_all, v_domains
    FROM rac.domain_roles m
    JOIN pg_catalog.pg_roles r ON r.rolname = m.role_name
    WHERE pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
      AND NOT (SELECT s.rolsuper FROM pg_catalog.pg_roles s WHERE s.rolname = session_user);
    IF NOT v_pinned THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT c.id FROM rac.contract_actions c
                 WHERE v_all OR c.domain = ANY (coalesce(v_domains, '{}'))
                 ORDER BY c.id);
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.domain_scope(text) IS
    'Action ids the session may write with privilege ack or expect (rac.domain_roles); NULL when no mapping pins it.';

-- rac.domain_refusals: which of action_ids the session may not write with
-- privilege; empty when it may write them all. The Go library asks it when
-- a write was held back, to say which action was refused.
-- +goose StatementBegin
CREATE FUNCTION rac.domain_refusals(privilege text, action_ids smallint[]) RETURNS smallint[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(DISTINCT i.id ORDER BY i.id), '{}')
    FROM unnest(action_ids) AS i(id), (SELECT rac.domain_scope(privilege) AS s) d
    WHERE d.s IS NOT NULL AND NOT i.id = ANY (d.s)
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.domain_refusals(text, smallint[]) IS
    'The action ids among action_ids that the session may not write with privilege ack or expect; empty when all are allowed.';

GRANT EXECUTE ON FUNCTION rac.domain_scope(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION rac.domain_refusals(text, smallint[]) TO PUBLIC;

-- The author of every row written from now on.
-- The column first, the default after: a volatile default given with ADD
-- COLUMN would rewrite the table and name the migrating role as the
-- author of every earlier row.
ALTER TABLE rac.expectations ADD COLUMN author_id integer;
ALTER TABLE rac.acks ADD COLUMN author_id integer;
ALTER TABLE rac.finding_resolutions ADD COLUMN author_id integer;
ALTER TABLE rac.expectations ALTER COLUMN author_id SET DEFAULT rac.author_id();
ALTER TABLE rac.acks ALTER COLUMN author_id SET DEFAULT rac.author_id();
ALTER TABLE rac.finding_resolutions ALTER COLUMN author_id SET DEFAULT rac.author_id();
-- NOT VALID: rows written before this migration keep NULL (unknown).
ALTER TABLE rac.expectations ADD CONSTRAINT expectations_author_recorded CHECK (author_id IS NOT NULL) NOT VALID;
ALTER TABLE rac.acks ADD CONSTRAINT acks_author_recorded CHECK (author_id IS NOT NULL) NOT VALID;
ALTER TABLE rac.finding_resolutions ADD CONSTRAINT finding_resolutions_author_recorded CHECK (author_id IS NOT NULL) NOT VALID;

COMMENT ON COLUMN rac.expectations.author_id IS
    'rac.authors id of the login role that declared it (NULL: written before authors were recorded).';
COMMENT ON COLUMN rac.acks.author_id IS
    'rac.authors id of the login role that wrote it (NULL: written before authors were recorded).';
COMMENT ON COLUMN rac.finding_resolutions.author_id IS
    'rac.authors id of the login role that recorded it: the reconciler''s, or the waiver''s (NULL: written before '
    'authors were recorded).';

GRANT INSERT (author_id) ON rac.expectations, rac.acks TO rac_writer;

-- A bound writer records its own author and writes only in its domains.
-- Restrictive: these hold on top of the tenant policies of migration 00006.
-- The author is the smallest id the statement's snapshot shows for the
-- session's role (a lookup, no function call), else one the role
-- registered during the statement.
CREATE POLICY authored ON rac.expectations AS RESTRICTIVE FOR INSERT
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user AND a.role_oid = session_user::text::regrole)
                OR rac.is_session_author(author_id));
CREATE POLICY authored ON rac.acks AS RESTRICTIVE FOR INSERT
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user AND a.role_oid = session_user::text::regrole)
                OR rac.is_session_author(author_id));
CREATE POLICY authored ON rac.finding_resolutions AS RESTRICTIVE FOR INSERT
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user AND a.role_oid = session_user::text::regrole)
                OR rac.is_session_author(author_id));
CREATE POLICY in_domain ON rac.acks AS RESTRICTIVE FOR INSERT
    WITH CHECK (NOT EXISTS (SELECT FROM rac.domain_roles)
                OR action_id = ANY (coalesce((SELECT rac.domain_scope('ack')), ARRAY[action_id])));
CREATE POLICY in_domain ON rac.expectations AS RESTRICTIVE FOR INSERT
    WITH CHECK (NOT EXISTS (SELECT FROM rac.domain_roles)
                OR action_id = ANY (coalesce((SELECT rac.domain_scope('expect')), ARRAY[action_id])));

-- rac.expect (migration 00009) records its author and refuses a domain the
-- role may not declare (RC113).
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
    IF NOT v_action = ANY (coalesce(rac.domain_scope('expect'), ARRAY[v_action])) THEN
        RAISE EXCEPTION 'rac.expect: role % may not declare expectations for domain %', session_user,
                pg_catalog.quote_literal(expect.domain)
            USING ERRCODE = 'RC113', COLUMN = 'domain',
                  HINT = 'rac.domain_roles pins this role to other domains for privilege expect.';
    END IF;

    -- declared_at and deadline_at come from one reading of the clock.
    v_now := clock_timestamp();
    INSERT INTO rac.expectations AS e (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by,
                                       metadata, author_id)
    VALUES (v_tenant, expect.run_id, v_action, v_ms, v_now, v_now + v_ms * interval '1 millisecond',
            nullif(expect.declared_by, ''), expect.metadata, rac.author_id())
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
    'Declares one expectation of the session''s tenant in the caller''s transaction, recording the login role as its '
    'author. true: written; false: declared before with the same deadline. A NULL deadline is recorded as an invalid '
    'contract. Bad input: SQLSTATE RC101-RC107 (declared_by: at most 256 bytes); RC113: the role may not declare for '
    'this domain.';

-- rac.ack (migration 00003) records its author and refuses a domain the
-- role may not ack (RC112).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.ack(
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
    IF NOT v_action = ANY (coalesce(rac.domain_scope('ack'), ARRAY[v_action])) THEN
        RAISE EXCEPTION 'rac.ack: role % may not ack actions of domain %', session_user, pg_catalog.quote_literal(ack.domain)
            USING ERRCODE = 'RC112', COLUMN = 'domain',
                  HINT = 'rac.domain_roles pins this role to other domains for privilege ack.';
    END IF;

    INSERT INTO rac.acks AS a (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata, author_id)
    VALUES (v_tenant, ack.run_id, v_action,
            nullif(ack.result_id, ''), nullif(ack.idempotency_key, ''), nullif(ack.error, ''), ack.metadata,
            rac.author_id())
    ON CONFLICT (tenant_id, run_id, action_id, idempotency_key) DO NOTHING;
    RETURN FOUND;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.ack(uuid, text, text, text, text, text, jsonb) IS
    'Records one ack of the session''s tenant in the caller''s transaction, recording the login role as its author. '
    'true: written; false: the idempotency key was used before for this run, domain and action. Empty strings are stored '
    'as NULL. Bad input: SQLSTATE RC101-RC107; RC112: the role may not ack this domain.';

-- rac.waive (migration 00006) records the login role beside the claimed actor.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.waive(finding_id bigint, reason text, actor text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_kind   text;
    v_tenant smallint;
    v_id     bigint;
BEGIN
    IF waive.reason IS NULL OR pg_catalog.btrim(waive.reason) = '' THEN
        RAISE EXCEPTION 'rac.waive: invalid reason: a waiver needs a reason'
            USING ERRCODE = 'RC110', COLUMN = 'reason';
    END IF;
    IF waive.actor IS NULL OR pg_catalog.btrim(waive.actor) = '' THEN
        RAISE EXCEPTION 'rac.waive: invalid actor: a waiver needs the name of who waives'
            USING ERRCODE = 'RC110', COLUMN = 'actor';
    END IF;
    IF pg_catalog.octet_length(waive.reason) > 4096 THEN
        RAISE EXCEPTION 'rac.waive: invalid reason: % bytes, at most 4096', pg_catalog.octet_length(waive.reason)
            USING ERRCODE = 'RC105', COLUMN = 'reason';
    END IF;
    IF pg_catalog.octet_length(waive.actor) > 256 THEN
        RAISE EXCEPTION 'rac.waive: invalid actor: % bytes, at most 256', pg_catalog.octet_length(waive.actor)
            USING ERRCODE = 'RC105', COLUMN = 'actor';
    END IF;

    SELECT f.kind, f.tenant_id INTO v_kind, v_tenant FROM rac.findings f
    WHERE f.id = waive.finding_id AND f.tenant_id = ANY (rac.tenant_scope());
    IF v_kind IS NULL THEN
        RAISE EXCEPTION 'rac.waive: finding % does not exist', waive.finding_id
            USING ERRCODE = 'RC108', COLUMN = 'finding_id';
    END IF;
    IF v_kind = 'late' THEN
        RAISE EXCEPTION 'rac.waive: finding % is a late finding: history, not an open violation', waive.finding_id
            USING ERRCODE = 'RC109', COLUMN = 'finding_id';
    END IF;

    INSERT INTO rac.finding_resolutions (finding_id, tenant_id, resolution, resolved_at, actor, reason, author_id)
    VALUES (waive.finding_id, v_tenant, 'waived', pg_catalog.clock_timestamp(), waive.actor, waive.reason,
            rac.author_id())
    ON CONFLICT (finding_id) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'rac.waive: finding % is already resolved', waive.finding_id
            USING ERRCODE = 'RC108', COLUMN = 'finding_id';
    END IF;
    RETURN v_id;
END;
$$;
-- +goose StatementEnd

-- rac.evidence: every expectation and ack in scope with its author's name,
-- for auditors (who may not read the tables).
CREATE VIEW rac.evidence WITH (security_barrier) AS
SELECT t.name AS tenant,
       'expectation'::text AS kind,
       e.id,
       e.tx_id,
       e.run_id,
       c.domain,
       c.action,
       e.declared_at AS written_at,
       e.deadline_at,
       NULL::text AS result_id,
       NULL::text AS error,
       NULL::text AS idempotency_key,
       e.declared_by AS claimed_by,
       au.role_name::text AS author
FROM rac.expectations e
JOIN rac.tenants t ON t.id = e.tenant_id
JOIN rac.contract_actions c ON c.id = e.action_id
LEFT JOIN rac.authors au ON au.id = e.author_id
WHERE e.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
UNION ALL
SELECT t.name, 'ack', a.id, a.tx_id, a.run_id, c.domain, c.action, a.acked_at, NULL, a.result_id, a.error,
       a.idempotency_key, NULL, au.role_name::text
FROM rac.acks a
JOIN rac.tenants t ON t.id = a.tenant_id
JOIN rac.contract_actions c ON c.id = a.action_id
LEFT JOIN rac.authors au ON au.id = a.author_id
WHERE a.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

COMMENT ON VIEW rac.evidence IS
    'Every expectation (kind expectation) and ack (kind ack) of the caller''s tenants with the login role that wrote it '
    '(author; NULL for rows written before authors were recorded) and, for expectations, the claimed declared_by.';
COMMENT ON COLUMN rac.evidence.author IS
    'The login role (session_user) that wrote the row, as rac.authors recorded it; NULL: written before authors were recorded.';

GRANT SELECT ON rac.evidence TO rac_auditor;

-- findings_history (migration 00008) names who recorded each resolution
-- (the reconciler's login, or the waiver's) and who wrote its evidence.
CREATE OR REPLACE VIEW rac.findings_history WITH (security_barrier) AS
SELECT f.id AS finding_id,
       t.name AS tenant_id,
       f.run_id,
       c.domain,
       c.action,
       f.kind,
       f.violated_at,
       f.detected_at,
       f.reconciliation_id,
       r.resolution,
       r.resolved_at,
       r.recorded_at AS resolution_recorded_at,
       r.ack_id AS resolved_by_ack_id,
       r.actor,
       r.reason,
       (r.id IS NULL AND f.kind <> 'late') AS open,
       CASE WHEN a.id IS NOT NULL THEN 'acks' WHEN e.id IS NOT NULL THEN 'expectations' END AS evidence_table,
       coalesce(a.id, e.id) AS evidence_id,
       coalesce(a.acked_at, e.declared_at) AS evidence_at,
       ra.role_name::text AS resolution_author,
       ea.role_name::text AS evidence_author
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
LEFT JOIN rac.finding_resolutions r ON r.finding_id = f.id
LEFT JOIN rac.acks a
       ON a.run_id = f.run_id AND a.tenant_id = f.tenant_id AND a.action_id = f.action_id AND a.id = r.ack_id
LEFT JOIN rac.expectations e
       ON e.run_id = f.run_id AND e.tenant_id = f.tenant_id AND e.action_id = f.action_id
      AND f.kind = 'drift' AND r.resolution IN ('retracted', 'declared')
LEFT JOIN rac.authors ra ON ra.id = r.author_id
LEFT JOIN rac.authors ea ON ea.id = coalesce(a.author_id, e.author_id)
WHERE f.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

-- sqlc reads a replaced view as a new one: restate the comments it shows.
COMMENT ON VIEW rac.findings_history IS
    'Every finding the reconciler recorded, with its resolution if any (acked, retracted, superseded, declared, waived) '
    'and the resolution''s evidence row. open: unresolved and of a violation kind (late is history, never open), as in '
    'rac.open_findings.';
COMMENT ON COLUMN rac.findings_history.evidence_table IS
    'Where the evidence of the resolution lives: acks (resolved_by_ack_id) or expectations (a drift''s declaration).';
COMMENT ON COLUMN rac.findings_history.evidence_at IS
    'The evidence row''s own time: the ack''s acked_at or the expectation''s declared_at.';
COMMENT ON COLUMN rac.findings_history.resolution_author IS
    'The login role that recorded the resolution (the reconciler''s, or the waiver''s beside the claimed actor).';
COMMENT ON COLUMN rac.findings_history.evidence_author IS
    'The login role that wrote the evidence row.';

-- The seal table takes encoding version 2 (rows name their author).
ALTER TABLE rac.seals DROP CONSTRAINT seals_version_check;
ALTER TABLE rac.seals ADD CONSTRAINT seals_version_check CHECK (version IN (1, 2));

-- +goose Down
ALTER TABLE rac.seals DROP CONSTRAINT seals_version_check;
ALTER TABLE rac.seals ADD CONSTRAINT seals_version_check CHECK (version = 1) NOT VALID;

DROP VIEW rac.findings_history;
CREATE VIEW rac.findings_history WITH (security_barrier) AS
SELECT f.id AS finding_id,
       t.name AS tenant_id,
       f.run_id,
       c.domain,
       c.action,
       f.kind,
       f.violated_at,
       f.detected_at,
       f.reconciliation_id,
       r.resolution,
       r.resolved_at,
       r.recorded_at AS resolution_recorded_at,
       r.ack_id AS resolved_by_ack_id,
       r.actor,
       r.reason,
       (r.id IS NULL AND f.kind <> 'late') AS open,
       CASE WHEN a.id IS NOT NULL THEN 'acks' WHEN e.id IS NOT NULL THEN 'expectations' END AS evidence_table,
       coalesce(a.id, e.id) AS evidence_id,
       coalesce(a.acked_at, e.declared_at) AS evidence_at
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
LEFT JOIN rac.finding_resolutions r ON r.finding_id = f.id
LEFT JOIN rac.acks a
       ON a.run_id = f.run_id AND a.tenant_id = f.tenant_id AND a.action_id = f.action_id AND a.id = r.ack_id
LEFT JOIN rac.expectations e
       ON e.run_id = f.run_id AND e.tenant_id = f.tenant_id AND e.action_id = f.action_id
      AND f.kind = 'drift' AND r.resolution IN ('retracted', 'declared')
WHERE f.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);
GRANT SELECT ON rac.findings_history TO rac_auditor;

DROP VIEW rac.evidence;


-- The functions as migrations 00003, 00006 and 00009 left them.
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.ack(
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.waive(finding_id bigint, reason text, actor text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_kind   text;
    v_tenant smallint;
    v_id     bigint;
BEGIN
    IF waive.reason IS NULL OR pg_catalog.btrim(waive.reason) = '' THEN
        RAISE EXCEPTION 'rac.waive: invalid reason: a waiver needs a reason'
            USING ERRCODE = 'RC110', COLUMN = 'reason';
    END IF;
    IF waive.actor IS NULL OR pg_catalog.btrim(waive.actor) = '' THEN
        RAISE EXCEPTION 'rac.waive: invalid actor: a waiver needs the name of who waives'
            USING ERRCODE = 'RC110', COLUMN = 'actor';
    END IF;
    IF pg_catalog.octet_length(waive.reason) > 4096 THEN
        RAISE EXCEPTION 'rac.waive: invalid reason: % bytes, at most 4096', pg_catalog.octet_length(waive.reason)
            USING ERRCODE = 'RC105', COLUMN = 'reason';
    END IF;
    IF pg_catalog.octet_length(waive.actor) > 256 THEN
        RAISE EXCEPTION 'rac.waive: invalid actor: % bytes, at most 256', pg_catalog.octet_length(waive.actor)
            USING ERRCODE = 'RC105', COLUMN = 'actor';
    END IF;

    SELECT f.kind, f.tenant_id INTO v_kind, v_tenant FROM rac.findings f
    WHERE f.id = waive.finding_id AND f.tenant_id = ANY (rac.tenant_scope());
    IF v_kind IS NULL THEN
        RAISE EXCEPTION 'rac.waive: finding % does not exist', waive.finding_id
            USING ERRCODE = 'RC108', COLUMN = 'finding_id';
    END IF;
    IF v_kind = 'late' THEN
        RAISE EXCEPTION 'rac.waive: finding % is a late finding: history, not an open violation', waive.finding_id
            USING ERRCODE = 'RC109', COLUMN = 'finding_id';
    END IF;

    INSERT INTO rac.finding_resolutions (finding_id, tenant_id, resolution, resolved_at, actor, reason)
    VALUES (waive.finding_id, v_tenant, 'waived', pg_catalog.clock_timestamp(), waive.actor, waive.reason)
    ON CONFLICT (finding_id) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'rac.waive: finding % is already resolved', waive.finding_id
            USING ERRCODE = 'RC108', COLUMN = 'finding_id';
    END IF;
    RETURN v_id;
END;
$$;
-- +goose StatementEnd

DROP POLICY in_domain ON rac.expectations;
DROP POLICY in_domain ON rac.acks;
DROP POLICY authored ON rac.finding_resolutions;
DROP POLICY authored ON rac.acks;
DROP POLICY authored ON rac.expectations;

REVOKE INSERT (author_id) ON rac.expectations, rac.acks FROM rac_writer;
ALTER TABLE rac.finding_resolutions DROP COLUMN author_id;
ALTER TABLE rac.acks DROP COLUMN author_id;
ALTER TABLE rac.expectations DROP COLUMN author_id;

DROP FUNCTION rac.domain_refusals(text, smallint[]);
DROP FUNCTION rac.domain_scope(text);
DROP TABLE rac.domain_roles;
DROP FUNCTION rac.is_session_author(integer);
DROP FUNCTION rac.author_id();
DROP TABLE rac.authors;
