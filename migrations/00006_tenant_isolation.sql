-- Tenant isolation: which tenants a session may see and write, row-level
-- security on every tenant-keyed ledger table, and the same scope on every
-- report view (see docs/sql-api.md, "Tenants").
--
-- A session's tenant scope, decided by rac.tenant_scope() from the login
-- role (session_user) and the setting rac.tenant:
--   1. rac.tenant names a tenant: just that one. A role mapped in
--      rac.tenant_roles may only name a tenant it is mapped to (RC111).
--   2. Otherwise a mapped role sees the tenants it is mapped to (a mapping
--      with a NULL tenant_id means every tenant).
--   3. Otherwise superusers, members of the role that owns schema rac and
--      members of rac_reconciler see every tenant (the ledger's operators).
--   4. Otherwise the tenant named default.
-- Writes go to exactly one tenant, rac.current_tenant(): the one named by
-- rac.tenant, else a role's only mapped tenant, else default.
--
-- Mapping applies to the login role and to the group roles it is a member
-- of; it is what makes a tenant an authenticated boundary. The setting
-- alone only selects: an unmapped role may set any tenant.
--
-- Row-level security binds roles that read or write the tables directly
-- (a service using the Go library under its own role, rac_reconciler), and
-- makes them leave tx_id and creation times to the server.
-- Table owners and superusers bypass it, and the report views read tables
-- with their owner's rights, so each view applies the scope itself. The
-- views are security barriers: a reader's own functions in a WHERE clause
-- never see rows outside the scope.
--
-- SQLSTATE RC111: the role may not act in the tenant it named.

-- +goose Up

CREATE TABLE rac.tenant_roles (
    role_name  name        NOT NULL,
    tenant_id  smallint    REFERENCES rac.tenants (id),
    granted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT tenant_roles_once UNIQUE NULLS NOT DISTINCT (role_name, tenant_id)
);

COMMENT ON TABLE rac.tenant_roles IS
    'Pins a role (and the members of a group role) to tenants: a mapped role sees and writes only these tenants. '
    'tenant_id NULL: every tenant (e.g. a central compliance team). Configuration, not history: delete a row to unmap.';

-- rac.tenant_scope: the ids of the tenants this session may see. STABLE,
-- so a policy or view that calls it as (SELECT rac.tenant_scope()) runs it
-- once per statement. SECURITY DEFINER so it may read the mapping; it
-- looks only at session_user, never at an argument, so it cannot be asked
-- about another role.
-- +goose StatementBegin
CREATE FUNCTION rac.tenant_scope() RETURNS smallint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_setting text := nullif(current_setting('rac.tenant', true), '');
    v_pinned  boolean := false;
    v_all     boolean := false;
    v_mapped  smallint[];
    v_named   smallint;
BEGIN
    -- Policies run this once per statement: few queries, and none about
    -- pinning while nobody is pinned. A superuser is a member of every
    -- role, so a mapping cannot pin it.
    IF EXISTS (SELECT FROM rac.tenant_roles) THEN
        SELECT count(*) > 0, coalesce(bool_or(m.tenant_id IS NULL), false),
               array_agg(DISTINCT m.tenant_id) FILTER (WHERE m.tenant_id IS NOT NULL)
        INTO v_pinned, v_all, v_mapped
        FROM rac.tenant_roles m
        JOIN pg_catalog.pg_roles r ON r.rolname = m.role_name
        WHERE pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
          AND NOT (SELECT s.rolsuper FROM pg_catalog.pg_roles s WHERE s.rolname = session_user);
        IF v_all THEN
            v_mapped := NULL; -- pinned to every tenant: like an operator
        ELSIF v_pinned THEN
            v_mapped := coalesce(v_mapped, '{}'); -- pinned to tenants since removed: none
        END IF;
    END IF;

    IF v_setting IS NOT NULL THEN
        SELECT t.id INTO v_named FROM rac.tenants t WHERE t.name = v_setting;
        IF v_named IS NULL THEN
            RAISE EXCEPTION 'rac: unknown tenant: % (setting rac.tenant) is not in rac.tenants', pg_catalog.quote_literal(v_setting)
                USING ERRCODE = 'RC107', COLUMN = 'tenant',
                      HINT = 'Set rac.tenant to an existing tenant name, or add the tenant to rac.tenants.';
        END IF;
        IF v_mapped IS NOT NULL AND NOT v_named = ANY (v_mapped) THEN
            RAISE EXCEPTION 'rac: role % may not act in tenant %', session_user, pg_catalog.quote_literal(v_setting)
                USING ERRCODE = 'RC111', COLUMN = 'tenant',
                      HINT = 'rac.tenant_roles maps this role to other tenants.';
        END IF;
        RETURN ARRAY[v_named];
    END IF;
    IF v_mapped IS NOT NULL THEN
        RETURN v_mapped;
    END IF;

    -- Operators (superusers, members of the schema owner or of
    -- rac_reconciler) and roles pinned to every tenant see every tenant;
    -- anyone else sees default.
    RETURN ARRAY(
        SELECT t.id FROM rac.tenants t
        WHERE t.name = 'default'
           OR v_all
           OR (SELECT s.rolsuper FROM pg_catalog.pg_roles s WHERE s.rolname = session_user)
           OR pg_catalog.pg_has_role(session_user,
                  (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'rac'), 'MEMBER')
           OR pg_catalog.pg_has_role(session_user, 'rac_reconciler', 'MEMBER')
        ORDER BY t.id);
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.tenant_scope() IS
    'Ids of the tenants this session may see: the tenant named by rac.tenant (RC107 unknown, RC111 not allowed for a '
    'mapped role), else the role''s mapped tenants (rac.tenant_roles), else every tenant for superusers, the schema owner '
    'and rac_reconciler members, else default.';

-- rac.current_tenant (from migration 00003) now honours the mapping: the
-- tenant a write goes to.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.current_tenant() RETURNS smallint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name    text;
    v_id      smallint;
    v_scope   smallint[];
    v_default smallint;
BEGIN
    -- rac.expect and rac.ack call this on every write: while nobody is
    -- pinned, the tenant is the one named, or default, with one lookup.
    IF NOT EXISTS (SELECT FROM rac.tenant_roles) THEN
        v_name := coalesce(nullif(current_setting('rac.tenant', true), ''), 'default');
        SELECT t.id INTO v_id FROM rac.tenants t WHERE t.name = v_name;
        IF v_id IS NULL THEN
            RAISE EXCEPTION 'rac: unknown tenant: % (setting rac.tenant) is not in rac.tenants', pg_catalog.quote_literal(v_name)
                USING ERRCODE = 'RC107', COLUMN = 'tenant',
                      HINT = 'Set rac.tenant to an existing tenant name, or add the tenant to rac.tenants.';
        END IF;
        RETURN v_id;
    END IF;

    -- Raises RC107 or RC111 when rac.tenant names a tenant out of reach;
    -- when it names one, the scope is that tenant alone.
    v_scope := rac.tenant_scope();
    IF cardinality(v_scope) = 1 THEN
        RETURN v_scope[1];
    END IF;
    -- Several tenants in scope and none named: default, when in scope.
    v_default := (SELECT t.id FROM rac.tenants t WHERE t.name = 'default');
    IF v_default = ANY (v_scope) THEN
        RETURN v_default;
    END IF;
    RAISE EXCEPTION 'rac: role % is mapped to several tenants or none: set rac.tenant to one of them', session_user
        USING ERRCODE = 'RC111', COLUMN = 'tenant';
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.current_tenant() IS
    'Id of the tenant this session writes to: named by rac.tenant, else the login role''s only mapped tenant, else default. '
    'RC107 unknown tenant, RC111 not allowed for a mapped role.';

-- rac.waive (from migration 00005) may only waive findings in scope; one
-- outside is reported as not found, so ids of other tenants leak nothing.
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

-- Anyone whose queries meet a policy or a report view evaluates the scope;
-- it tells a session only which tenant ids it may see itself.
GRANT EXECUTE ON FUNCTION rac.tenant_scope() TO PUBLIC;

-- rac.sees_whole_ledger: whether this session reads every row of every
-- tenant-keyed ledger table, as a reconciliation pass, a seal, a
-- verification and a proof must (one of them over some tenants' rows would
-- certify or seal the others' unseen): row-level security does not apply
-- to it (table owner, superuser, BYPASSRLS), or it is a rac_reconciler
-- member (whose policies read every row), or its scope is every tenant.
-- Runs with the caller's rights: it answers for the caller.
-- +goose StatementBegin
CREATE FUNCTION rac.sees_whole_ledger() RETURNS boolean
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

GRANT EXECUTE ON FUNCTION rac.sees_whole_ledger() TO PUBLIC;

-- Row-level security on every tenant-keyed ledger table. A role it binds
-- reads only the rows of its scope and inserts only rows of its scope whose
-- server-assigned columns are the server's: tx_id is the inserting
-- transaction's id and the creation time lies within that transaction
-- (from its start, now(), to this moment, clock_timestamp()). So a service
-- writing with its own INSERT privilege can neither backdate an ack nor
-- hide a row from the reconciler and from sealing with a made-up tx_id.
-- Table owners and superusers are not bound (restores, test fixtures).
--
-- rac_reconciler reconciles the whole ledger in one pass (its horizon is
-- ledger-wide), so it reads every row whatever rac.tenant says, and
-- appends findings, resolutions and verdicts of every tenant.
ALTER TABLE rac.expectations ENABLE ROW LEVEL SECURITY;
ALTER TABLE rac.acks ENABLE ROW LEVEL SECURITY;
ALTER TABLE rac.findings ENABLE ROW LEVEL SECURITY;
ALTER TABLE rac.finding_resolutions ENABLE ROW LEVEL SECURITY;
ALTER TABLE rac.run_verdicts ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_reads ON rac.expectations FOR SELECT
    USING (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]));
CREATE POLICY tenant_reads ON rac.acks FOR SELECT
    USING (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]));
CREATE POLICY tenant_reads ON rac.findings FOR SELECT
    USING (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]));
CREATE POLICY tenant_reads ON rac.finding_resolutions FOR SELECT
    USING (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]));
CREATE POLICY tenant_reads ON rac.run_verdicts FOR SELECT
    USING (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]));

CREATE POLICY tenant_writes ON rac.expectations FOR INSERT
    WITH CHECK (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
                AND tx_id = pg_current_xact_id()::text::bigint
                AND declared_at BETWEEN now() AND clock_timestamp()
                AND (deadline_at IS NULL OR deadline_at = declared_at + deadline_ms * interval '1 millisecond'));
CREATE POLICY tenant_writes ON rac.acks FOR INSERT
    WITH CHECK (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
                AND tx_id = pg_current_xact_id()::text::bigint
                AND acked_at BETWEEN now() AND clock_timestamp());
CREATE POLICY tenant_writes ON rac.findings FOR INSERT
    WITH CHECK (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
                AND tx_id = pg_current_xact_id()::text::bigint
                AND detected_at BETWEEN now() AND clock_timestamp());
CREATE POLICY tenant_writes ON rac.finding_resolutions FOR INSERT
    WITH CHECK (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
                AND tx_id = pg_current_xact_id()::text::bigint
                AND recorded_at BETWEEN now() AND clock_timestamp());
CREATE POLICY tenant_writes ON rac.run_verdicts FOR INSERT
    WITH CHECK (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
                AND tx_id = pg_current_xact_id()::text::bigint
                AND recorded_at BETWEEN now() AND clock_timestamp());

CREATE POLICY reconciler_reads ON rac.expectations FOR SELECT TO rac_reconciler USING (true);
CREATE POLICY reconciler_reads ON rac.acks FOR SELECT TO rac_reconciler USING (true);
CREATE POLICY reconciler_reads ON rac.findings FOR SELECT TO rac_reconciler USING (true);
CREATE POLICY reconciler_reads ON rac.finding_resolutions FOR SELECT TO rac_reconciler USING (true);
CREATE POLICY reconciler_reads ON rac.run_verdicts FOR SELECT TO rac_reconciler USING (true);

CREATE POLICY reconciler_writes ON rac.findings FOR INSERT TO rac_reconciler
    WITH CHECK (tx_id = pg_current_xact_id()::text::bigint AND detected_at BETWEEN now() AND clock_timestamp());
CREATE POLICY reconciler_writes ON rac.finding_resolutions FOR INSERT TO rac_reconciler
    WITH CHECK (tx_id = pg_current_xact_id()::text::bigint AND recorded_at BETWEEN now() AND clock_timestamp());
CREATE POLICY reconciler_writes ON rac.run_verdicts FOR INSERT TO rac_reconciler
    WITH CHECK (tx_id = pg_current_xact_id()::text::bigint AND recorded_at BETWEEN now() AND clock_timestamp());

-- The report views, as in migrations 00002 and 00004, each limited to the
-- session's scope. Column lists are unchanged.
CREATE OR REPLACE VIEW rac.open_findings WITH (security_barrier) AS
SELECT f.id AS finding_id, t.name AS tenant_id, f.run_id, c.domain, c.action, f.kind,
       f.violated_at, f.detected_at, f.detail, f.reconciliation_id
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
WHERE f.kind <> 'late'
  AND f.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
  AND NOT EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id);

CREATE OR REPLACE VIEW rac.run_status WITH (security_barrier) AS
WITH scope AS (
    SELECT rac.tenant_scope() AS tenants
),
latest AS (
    SELECT DISTINCT ON (v.tenant_id, v.run_id) v.tenant_id, v.run_id, v.verdict, v.seq, v.recorded_at, v.reconciliation_id
    FROM rac.run_verdicts v
    WHERE v.tenant_id = ANY ((SELECT s.tenants FROM scope s)::smallint[])
    ORDER BY v.tenant_id, v.run_id, v.seq DESC
),
watermark AS (
    SELECT coalesce(max(r.horizon_to), 0) AS horizon FROM rac.reconciliations r WHERE r.final
),
unrecorded AS (
    SELECT x.tenant_id, x.run_id
    FROM (
        SELECT e.tenant_id, e.run_id, e.tx_id FROM rac.expectations e
        UNION ALL
        SELECT a.tenant_id, a.run_id, a.tx_id FROM rac.acks a
    ) x
    WHERE x.tenant_id = ANY ((SELECT s.tenants FROM scope s)::smallint[])
      AND NOT EXISTS (SELECT 1 FROM rac.run_verdicts v WHERE v.tenant_id = x.tenant_id AND v.run_id = x.run_id)
    GROUP BY x.tenant_id, x.run_id
    HAVING max(x.tx_id) < (SELECT horizon FROM watermark)
)
SELECT t.name AS tenant_id, l.run_id, l.verdict, l.seq, l.recorded_at, l.reconciliation_id
FROM latest l JOIN rac.tenants t ON t.id = l.tenant_id
UNION ALL
SELECT t.name, u.run_id, 'clean', 0, NULL, NULL
FROM unrecorded u JOIN rac.tenants t ON t.id = u.tenant_id;

CREATE OR REPLACE VIEW rac.action_status WITH (security_barrier) AS
SELECT t.name AS tenant_id,
       s.run_id,
       c.domain,
       c.action,
       s.expected,
       s.declared_at,
       s.deadline_at,
       s.first_success_at,
       s.first_error_at,
       s.acks,
       rac.action_state(s.expected, s.deadline_at, s.first_success_at, s.first_error_at, clock_timestamp(),
                        coalesce(nullif(current_setting('rac.grace', true), ''), '0')::interval) AS status
FROM (
    SELECT x.run_id, x.tenant_id, x.action_id,
           bool_or(x.expected) AS expected,
           max(x.declared_at) AS declared_at,
           max(x.deadline_at) AS deadline_at,
           min(x.acked_at) FILTER (WHERE NOT x.failed) AS first_success_at,
           min(x.acked_at) FILTER (WHERE x.failed) AS first_error_at,
           count(x.acked_at) AS acks
    FROM (
        SELECT e.run_id, e.tenant_id, e.action_id, true AS expected, e.declared_at, e.deadline_at,
               NULL::timestamptz AS acked_at, NULL::boolean AS failed
        FROM rac.expectations e
        UNION ALL
        SELECT a.run_id, a.tenant_id, a.action_id, false, NULL, NULL, a.acked_at, a.error IS NOT NULL
        FROM rac.acks a
    ) x
    WHERE x.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
    GROUP BY x.run_id, x.tenant_id, x.action_id
) s
JOIN rac.tenants t ON t.id = s.tenant_id
JOIN rac.contract_actions c ON c.id = s.action_id;

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
       (r.id IS NULL AND f.kind <> 'late') AS open
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
LEFT JOIN rac.finding_resolutions r ON r.finding_id = f.id
WHERE f.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

-- sqlc reads a replaced view as a new one: restate the comments it shows.
COMMENT ON VIEW rac.open_findings IS
    'Findings of the violation kinds (missing, failed, drift, invalid, stale) that no resolution has closed.';
COMMENT ON VIEW rac.run_status IS
    'Latest verdict per run (clean, pending, violated). seq 0: reconciled clean at first sight, no verdict row needed.';
COMMENT ON VIEW rac.action_status IS
    'Live status of every (run, domain, action), expected or acked: acked, late, failed, pending, missing or drift '
    '(rac.action_state as of clock_timestamp(), with the grace of the session setting rac.grace, an interval, default 0). '
    'expected = false marks drift; an expected row with a NULL deadline_at is an invalid contract.';
COMMENT ON COLUMN rac.action_status.acks IS 'Number of acks (success and error) recorded for this (run, domain, action).';
COMMENT ON COLUMN rac.action_status.first_success_at IS 'acked_at of the first ack without error.';
COMMENT ON COLUMN rac.action_status.first_error_at IS 'acked_at of the first ack with an error.';
COMMENT ON VIEW rac.findings_history IS
    'Every finding the reconciler recorded, with its resolution (acked: a later success ack; waived) if any. '
    'open: unresolved and of a violation kind (late is history, never open), as in rac.open_findings.';

-- rac.daily_summary reads rac.action_status, so it is scoped already.

-- +goose Down
CREATE OR REPLACE VIEW rac.findings_history AS
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
       (r.id IS NULL AND f.kind <> 'late') AS open
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
LEFT JOIN rac.finding_resolutions r ON r.finding_id = f.id;
ALTER VIEW rac.findings_history RESET (security_barrier);

CREATE OR REPLACE VIEW rac.action_status AS
SELECT t.name AS tenant_id,
       s.run_id,
       c.domain,
       c.action,
       s.expected,
       s.declared_at,
       s.deadline_at,
       s.first_success_at,
       s.first_error_at,
       s.acks,
       rac.action_state(s.expected, s.deadline_at, s.first_success_at, s.first_error_at, clock_timestamp(),
                        coalesce(nullif(current_setting('rac.grace', true), ''), '0')::interval) AS status
FROM (
    SELECT x.run_id, x.tenant_id, x.action_id,
           bool_or(x.expected) AS expected,
           max(x.declared_at) AS declared_at,
           max(x.deadline_at) AS deadline_at,
           min(x.acked_at) FILTER (WHERE NOT x.failed) AS first_success_at,
           min(x.acked_at) FILTER (WHERE x.failed) AS first_error_at,
           count(x.acked_at) AS acks
    FROM (
        SELECT e.run_id, e.tenant_id, e.action_id, true AS expected, e.declared_at, e.deadline_at,
               NULL::timestamptz AS acked_at, NULL::boolean AS failed
        FROM rac.expectations e
        UNION ALL
        SELECT a.run_id, a.tenant_id, a.action_id, false, NULL, NULL, a.acked_at, a.error IS NOT NULL
        FROM rac.acks a
    ) x
    GROUP BY x.run_id, x.tenant_id, x.action_id
) s
JOIN rac.tenants t ON t.id = s.tenant_id
JOIN rac.contract_actions c ON c.id = s.action_id;
ALTER VIEW rac.action_status RESET (security_barrier);

CREATE OR REPLACE VIEW rac.run_status AS
WITH latest AS (
    SELECT DISTINCT ON (v.tenant_id, v.run_id) v.tenant_id, v.run_id, v.verdict, v.seq, v.recorded_at, v.reconciliation_id
    FROM rac.run_verdicts v
    ORDER BY v.tenant_id, v.run_id, v.seq DESC
),
watermark AS (
    SELECT coalesce(max(r.horizon_to), 0) AS horizon FROM rac.reconciliations r WHERE r.final
),
unrecorded AS (
    SELECT x.tenant_id, x.run_id
    FROM (
        SELECT e.tenant_id, e.run_id, e.tx_id FROM rac.expectations e
        UNION ALL
        SELECT a.tenant_id, a.run_id, a.tx_id FROM rac.acks a
    ) x
    WHERE NOT EXISTS (SELECT 1 FROM rac.run_verdicts v WHERE v.tenant_id = x.tenant_id AND v.run_id = x.run_id)
    GROUP BY x.tenant_id, x.run_id
    HAVING max(x.tx_id) < (SELECT horizon FROM watermark)
)
SELECT t.name AS tenant_id, l.run_id, l.verdict, l.seq, l.recorded_at, l.reconciliation_id
FROM latest l JOIN rac.tenants t ON t.id = l.tenant_id
UNION ALL
SELECT t.name, u.run_id, 'clean', 0, NULL, NULL
FROM unrecorded u JOIN rac.tenants t ON t.id = u.tenant_id;
ALTER VIEW rac.run_status RESET (security_barrier);

CREATE OR REPLACE VIEW rac.open_findings AS
SELECT f.id AS finding_id, t.name AS tenant_id, f.run_id, c.domain, c.action, f.kind,
       f.violated_at, f.detected_at, f.detail, f.reconciliation_id
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
WHERE f.kind <> 'late'
  AND NOT EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id);
ALTER VIEW rac.open_findings RESET (security_barrier);

DROP POLICY reconciler_writes ON rac.run_verdicts;
DROP POLICY reconciler_writes ON rac.finding_resolutions;
DROP POLICY reconciler_writes ON rac.findings;
DROP POLICY reconciler_reads ON rac.run_verdicts;
DROP POLICY reconciler_reads ON rac.finding_resolutions;
DROP POLICY reconciler_reads ON rac.findings;
DROP POLICY reconciler_reads ON rac.acks;
DROP POLICY reconciler_reads ON rac.expectations;
DROP POLICY tenant_writes ON rac.run_verdicts;
DROP POLICY tenant_writes ON rac.finding_resolutions;
DROP POLICY tenant_writes ON rac.findings;
DROP POLICY tenant_writes ON rac.acks;
DROP POLICY tenant_writes ON rac.expectations;
DROP POLICY tenant_reads ON rac.run_verdicts;
DROP POLICY tenant_reads ON rac.finding_resolutions;
DROP POLICY tenant_reads ON rac.findings;
DROP POLICY tenant_reads ON rac.acks;
DROP POLICY tenant_reads ON rac.expectations;
ALTER TABLE rac.run_verdicts DISABLE ROW LEVEL SECURITY;
ALTER TABLE rac.finding_resolutions DISABLE ROW LEVEL SECURITY;
ALTER TABLE rac.findings DISABLE ROW LEVEL SECURITY;
ALTER TABLE rac.acks DISABLE ROW LEVEL SECURITY;
ALTER TABLE rac.expectations DISABLE ROW LEVEL SECURITY;

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

    SELECT f.kind, f.tenant_id INTO v_kind, v_tenant FROM rac.findings f WHERE f.id = waive.finding_id;
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.current_tenant() RETURNS smallint
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

DROP FUNCTION rac.sees_whole_ledger();
DROP FUNCTION rac.tenant_scope();
DROP TABLE rac.tenant_roles;
