-- Evidence for auditors: read-only views of exactly what rac verify, rac
-- prove and rac export read, so a login in rac_auditor runs them without a
-- privilege on any ledger table (rac_auditor reads views only, as in
-- migrations 00003 and 00004).
--
-- rac.audit_<stem> (stem: the export file stem and the table name hashed
-- into every leaf, docs/canonical-encoding.md) has the canonical columns of
-- its ledger table, named as in an export: catalog ids resolved to names
-- (tenant, domain, action, author) by the same joins the canonical SELECT
-- of internal/canon uses, every other column as stored. rac verify then
-- hashes the same bytes from a view as from the table.
--
-- The views read the tables with their owner's rights, so row-level
-- security does not apply to them: each tenant-keyed view applies the
-- session's scope itself (rac.tenant_scope(), as the report views of
-- migration 00006), as a security barrier. rac.audit_reconciliations is
-- ledger-wide, like the table (no tenant column). rac.audit_seals shows
-- the chain as rac.seal_chain does, with the hashes as bytes;
-- rac.audit_seal_chunks, the locating hints (prefixes of the hashes of
-- every tenant's rows), only to a session that sees every tenant.
--
-- rac.schema_version() is the version of the last applied migration, which
-- rac export records in its manifest, for roles that may not read goose's
-- version table. rac.sees_whole_ledger(), the guard of verify and prove,
-- now answers a login that may read no table too.

-- +goose Up
CREATE VIEW rac.audit_expectations WITH (security_barrier) AS
SELECT x.id, x.tx_id, t.name AS tenant, x.run_id, c.domain, c.action, x.declared_at, x.deadline_at,
       x.deadline_ms, x.declared_by, x.metadata, au.role_name::text AS author
FROM rac.expectations x
JOIN rac.tenants t ON t.id = x.tenant_id
JOIN rac.contract_actions c ON c.id = x.action_id
LEFT JOIN rac.authors au ON au.id = x.author_id
WHERE x.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

CREATE VIEW rac.audit_acks WITH (security_barrier) AS
SELECT x.id, x.tx_id, t.name AS tenant, x.run_id, c.domain, c.action, x.acked_at, x.result_id,
       x.idempotency_key, x.error, x.metadata, au.role_name::text AS author
FROM rac.acks x
JOIN rac.tenants t ON t.id = x.tenant_id
JOIN rac.contract_actions c ON c.id = x.action_id
LEFT JOIN rac.authors au ON au.id = x.author_id
WHERE x.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

CREATE VIEW rac.audit_findings WITH (security_barrier) AS
SELECT x.id, x.tx_id, t.name AS tenant, x.reconciliation_id, x.run_id, c.domain, c.action, x.kind,
       x.violated_at, x.detected_at, x.detail
FROM rac.findings x
JOIN rac.tenants t ON t.id = x.tenant_id
JOIN rac.contract_actions c ON c.id = x.action_id
WHERE x.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

CREATE VIEW rac.audit_resolutions WITH (security_barrier) AS
SELECT x.id, x.tx_id, t.name AS tenant, x.finding_id, x.reconciliation_id, x.resolution, x.resolved_at,
       x.recorded_at, x.ack_id, x.actor, x.reason, au.role_name::text AS author
FROM rac.finding_resolutions x
JOIN rac.tenants t ON t.id = x.tenant_id
LEFT JOIN rac.authors au ON au.id = x.author_id
WHERE x.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

CREATE VIEW rac.audit_verdicts WITH (security_barrier) AS
SELECT x.id, x.tx_id, t.name AS tenant, x.reconciliation_id, x.run_id, x.seq, x.verdict, x.recorded_at
FROM rac.run_verdicts x
JOIN rac.tenants t ON t.id = x.tenant_id
WHERE x.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

CREATE VIEW rac.audit_reconciliations AS
SELECT x.id, x.tx_id, x.pass_id, x.batch, x.final, x.scope, x.horizon_from, x.horizon_to, x.deadline_from,
       x.deadline_to, x.as_of, x.grace_ms, x.candidate_runs, x.findings_recorded, x.resolutions_recorded,
       x.verdicts_recorded, x.started_at, x.finished_at, x.reconciler
FROM rac.reconciliations x;

CREATE VIEW rac.audit_tenants WITH (security_barrier) AS
SELECT t.name
FROM rac.tenants t
WHERE t.id = ANY ((SELECT rac.tenant_scope())::smallint[]);

CREATE VIEW rac.audit_seals AS
SELECT s.id, s.version, s.horizon_from, s.horizon_to, s.row_counts, s.merkle_root, s.prev_hash, s.seal_hash,
       s.sealed_at
FROM rac.seals s;

CREATE VIEW rac.audit_seal_chunks WITH (security_barrier) AS
SELECT k.seal_id, k.table_name, k.chunk_no, k.first_id, k.last_id, k.row_count, k.leaf_prefixes
FROM rac.seal_chunks k
WHERE NOT EXISTS (SELECT 1 FROM rac.tenants t WHERE NOT t.id = ANY ((SELECT rac.tenant_scope())::smallint[]));

COMMENT ON VIEW rac.audit_expectations IS
    'rac.expectations as the canonical encoding reads it (docs/canonical-encoding.md), for the session''s tenants.';
COMMENT ON VIEW rac.audit_acks IS
    'rac.acks as the canonical encoding reads it (docs/canonical-encoding.md), for the session''s tenants.';
COMMENT ON VIEW rac.audit_findings IS
    'rac.findings as the canonical encoding reads it (docs/canonical-encoding.md), for the session''s tenants.';
COMMENT ON VIEW rac.audit_resolutions IS
    'rac.finding_resolutions as the canonical encoding reads it (docs/canonical-encoding.md), for the session''s tenants.';
COMMENT ON VIEW rac.audit_verdicts IS
    'rac.run_verdicts as the canonical encoding reads it (docs/canonical-encoding.md), for the session''s tenants.';
COMMENT ON VIEW rac.audit_reconciliations IS
    'rac.reconciliations as the canonical encoding reads it (docs/canonical-encoding.md); ledger-wide, like the table.';
COMMENT ON VIEW rac.audit_tenants IS 'Names of the tenants this session sees (rac.tenant_scope()).';
COMMENT ON VIEW rac.audit_seals IS 'rac.seals, every column: the seal chain rac verify recomputes.';
COMMENT ON VIEW rac.audit_seal_chunks IS
    'rac.seal_chunks, the locating hints of rac verify; rows only for a session that sees every tenant.';

-- rac.schema_version: the last applied migration, from goose's version
-- table (public.rac_goose_db_version, which the migrations own).
-- +goose StatementBegin
CREATE FUNCTION rac.schema_version() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(max(v.version_id), 0)::bigint FROM public.rac_goose_db_version v WHERE v.is_applied
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.schema_version() IS 'Version of the last applied migration (goose''s version table).';

-- rac.sees_every_tenant: whether this session's tenant scope is every
-- tenant. SECURITY DEFINER so that it may read rac.tenants for a login that
-- may read views only; rac.tenant_scope() answers for session_user and
-- rac.tenant whoever runs it, so it tells a session only its own scope.
-- +goose StatementBegin
CREATE FUNCTION rac.sees_every_tenant() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT EXISTS (SELECT 1 FROM rac.tenants t
                       WHERE NOT t.id OPERATOR(pg_catalog.=) ANY (rac.tenant_scope()))
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.sees_every_tenant() IS 'Whether this session''s tenant scope (rac.tenant_scope()) is every tenant.';

GRANT EXECUTE ON FUNCTION rac.sees_every_tenant() TO PUBLIC;

-- rac.sees_whole_ledger (migrations 00006 and 00009) reads rac.tenants
-- through rac.sees_every_tenant(), so a rac_auditor login, which may read
-- no table, can ask it too. Same answer for everyone else.
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
        OR rac.sees_every_tenant()
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION rac.schema_version() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rac.schema_version() TO rac_auditor, rac_reconciler;

GRANT SELECT ON rac.audit_expectations, rac.audit_acks, rac.audit_findings, rac.audit_resolutions,
    rac.audit_verdicts, rac.audit_reconciliations, rac.audit_tenants, rac.audit_seals, rac.audit_seal_chunks
    TO rac_auditor;

-- +goose Down
-- rac.sees_whole_ledger as in migration 00009.
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
DROP FUNCTION rac.sees_every_tenant();
DROP FUNCTION rac.schema_version();
DROP VIEW rac.audit_seal_chunks;
DROP VIEW rac.audit_seals;
DROP VIEW rac.audit_tenants;
DROP VIEW rac.audit_reconciliations;
DROP VIEW rac.audit_verdicts;
DROP VIEW rac.audit_resolutions;
DROP VIEW rac.audit_findings;
DROP VIEW rac.audit_acks;
DROP VIEW rac.audit_expectations;
