-- The write path at its physical minimum (docs/performance.md, "The ack").
--
-- An ack and an expectation are written inside every service transaction,
-- so what rac.acks and rac.expectations check per row is paid by every
-- service at every commit. This migration keeps every guarantee and drops
-- only checks that cost more than they protect:
--
-- Foreign keys to rac.tenants and rac.contract_actions. A foreign key
-- takes a FOR KEY SHARE lock on the referenced row, so every concurrent
-- writer locked the same `default` tenant row and the same catalog rows:
-- a multixact per row shared by more than one transaction, multixact
-- member pages written under load and wraparound pressure on a ledger that
-- takes every service's writes. The lock guards against deleting the
-- referenced row, and catalog rows are never deleted (append-only
-- triggers refuse it). What a foreign key also did, refusing an unknown
-- id, the write policies now do for every writer bound by row-level
-- security (every role except superusers and the schema owner, who run
-- the SQL functions and are trusted with the schema itself): the tenant
-- must be one of the session's (rac.tenant_scope(), which lists only
-- existing tenants) and the action must exist in rac.contract_actions.
-- The library and the SQL functions resolve names to ids first, so they
-- report an unknown name with their own typed errors.
--
-- The identity-guard triggers (migration 00009) on these two tables now
-- fire only for a role that could choose an id and could not defeat the
-- guard anyway. A writer can choose an identity id only with OVERRIDING
-- SYSTEM VALUE, which needs INSERT on the id column; rac_writer has INSERT
-- on the written columns only (migrations 00011, 00012), never on id,
-- tx_id or the server's times, so its statement is refused before any row
-- exists, and a PL/pgSQL call per ack bought nothing on top of that. A
-- role with the TRIGGER privilege on the table (its owner, a superuser)
-- could add a trigger of its own that rewrites the id, so the guard never
-- bound it either; the SQL functions run as the owner and leave ids to
-- their defaults. The trigger's WHEN clause, evaluated without a function
-- call of ours, runs the guard for the roles that remain: one granted
-- table-wide INSERT, as before.

-- The tenant check's function call. rac.tenant_scope() is a SECURITY
-- DEFINER function with a pinned search_path, which costs as much as the
-- row it checks. While no role is pinned to tenants (rac.tenant_roles is
-- empty) and the session names no tenant other than `default` (the
-- setting rac.tenant), every session's scope holds `default`, id 1
-- (migration 00001); the policies check exactly that without a function
-- call or a lookup, and call rac.tenant_scope() only otherwise (a pinned
-- ledger, a session naming another tenant, an operator writing another
-- tenant, an unknown rac.tenant, which it still refuses with RC107).

-- +goose Up

ALTER TABLE rac.acks
    DROP CONSTRAINT acks_tenant_id_fkey,
    DROP CONSTRAINT acks_action_id_fkey;
ALTER TABLE rac.expectations
    DROP CONSTRAINT expectations_tenant_id_fkey,
    DROP CONSTRAINT expectations_action_id_fkey;

DROP TRIGGER acks_identity_guard ON rac.acks;
DROP TRIGGER expectations_identity_guard ON rac.expectations;
CREATE TRIGGER acks_identity_guard BEFORE INSERT ON rac.acks
    FOR EACH ROW
    WHEN (pg_catalog.has_column_privilege('rac.acks'::pg_catalog.regclass, 'id', 'INSERT')
          AND NOT pg_catalog.has_table_privilege('rac.acks'::pg_catalog.regclass, 'TRIGGER'))
    EXECUTE FUNCTION rac.guard_ack_identity();
CREATE TRIGGER expectations_identity_guard BEFORE INSERT ON rac.expectations
    FOR EACH ROW
    WHEN (pg_catalog.has_column_privilege('rac.expectations'::pg_catalog.regclass, 'id', 'INSERT')
          AND NOT pg_catalog.has_table_privilege('rac.expectations'::pg_catalog.regclass, 'TRIGGER'))
    EXECUTE FUNCTION rac.guard_identity('rac.expectations_id_seq');

-- The write policies read the mapping as the writer: it names roles and
-- tenant ids, which are no secret to a writer (rac_writer reads
-- rac.tenants already). Auditors still read views only.
GRANT SELECT ON rac.tenant_roles TO rac_writer;

ALTER POLICY tenant_writes ON rac.acks
    WITH CHECK (((NOT EXISTS (SELECT FROM rac.tenant_roles)
                  AND coalesce(nullif(current_setting('rac.tenant', true), ''), 'default') = 'default'
                  AND tenant_id = 1)
                 OR tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]))
                AND tx_id = pg_current_xact_id()::text::bigint
                AND acked_at BETWEEN now() AND clock_timestamp());

ALTER POLICY tenant_writes ON rac.expectations
    WITH CHECK (((NOT EXISTS (SELECT FROM rac.tenant_roles)
                  AND coalesce(nullif(current_setting('rac.tenant', true), ''), 'default') = 'default'
                  AND tenant_id = 1)
                 OR tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]))
                AND tx_id = pg_current_xact_id()::text::bigint
                AND declared_at BETWEEN now() AND clock_timestamp()
                AND (deadline_at IS NULL OR deadline_at = declared_at + deadline_ms * interval '1 millisecond'));

-- In its domains, and a known action: while nobody is pinned to domains,
-- an index lookup of the action; otherwise the action is in the session's
-- domain scope (rac.domain_scope lists only existing actions) or, for an
-- unpinned session, in the catalog.
ALTER POLICY in_domain ON rac.acks
    WITH CHECK ((NOT EXISTS (SELECT FROM rac.domain_roles)
                 AND EXISTS (SELECT FROM rac.contract_actions c WHERE c.id = action_id))
                OR action_id = ANY (coalesce((SELECT rac.domain_scope('ack')),
                                             (SELECT array_agg(c.id) FROM rac.contract_actions c))));

ALTER POLICY in_domain ON rac.expectations
    WITH CHECK ((NOT EXISTS (SELECT FROM rac.domain_roles)
                 AND EXISTS (SELECT FROM rac.contract_actions c WHERE c.id = action_id))
                OR action_id = ANY (coalesce((SELECT rac.domain_scope('expect')),
                                             (SELECT array_agg(c.id) FROM rac.contract_actions c))));

COMMENT ON POLICY in_domain ON rac.acks IS
    'A bound writer acks only actions that exist and that its domains allow (rac.domain_roles).';
COMMENT ON POLICY in_domain ON rac.expectations IS
    'A bound writer declares only actions that exist and that its domains allow (rac.domain_roles).';
COMMENT ON POLICY tenant_writes ON rac.acks IS
    'A bound writer writes only its tenants (an existing tenant), in its own transaction, at the server''s time.';
COMMENT ON POLICY tenant_writes ON rac.expectations IS
    'A bound writer writes only its tenants (an existing tenant), in its own transaction, at the server''s time, '
    'with a deadline that follows from declared_at and deadline_ms.';

-- +goose Down

COMMENT ON POLICY tenant_writes ON rac.expectations IS NULL;
COMMENT ON POLICY tenant_writes ON rac.acks IS NULL;
COMMENT ON POLICY in_domain ON rac.expectations IS NULL;
COMMENT ON POLICY in_domain ON rac.acks IS NULL;

ALTER POLICY in_domain ON rac.expectations
    WITH CHECK (NOT EXISTS (SELECT FROM rac.domain_roles)
                OR action_id = ANY (coalesce((SELECT rac.domain_scope('expect')), ARRAY[action_id])));
ALTER POLICY in_domain ON rac.acks
    WITH CHECK (NOT EXISTS (SELECT FROM rac.domain_roles)
                OR action_id = ANY (coalesce((SELECT rac.domain_scope('ack')), ARRAY[action_id])));

ALTER POLICY tenant_writes ON rac.expectations
    WITH CHECK (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
                AND tx_id = pg_current_xact_id()::text::bigint
                AND declared_at BETWEEN now() AND clock_timestamp()
                AND (deadline_at IS NULL OR deadline_at = declared_at + deadline_ms * interval '1 millisecond'));
ALTER POLICY tenant_writes ON rac.acks
    WITH CHECK (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
                AND tx_id = pg_current_xact_id()::text::bigint
                AND acked_at BETWEEN now() AND clock_timestamp());

REVOKE SELECT ON rac.tenant_roles FROM rac_writer;

DROP TRIGGER acks_identity_guard ON rac.acks;
DROP TRIGGER expectations_identity_guard ON rac.expectations;
CREATE TRIGGER expectations_identity_guard BEFORE INSERT ON rac.expectations
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.expectations_id_seq');
CREATE TRIGGER acks_identity_guard BEFORE INSERT ON rac.acks
    FOR EACH ROW EXECUTE FUNCTION rac.guard_ack_identity();

-- Rows written without the keys may name ids that do not exist; adding the
-- keys back then fails, which is the honest outcome.
ALTER TABLE rac.expectations
    ADD CONSTRAINT expectations_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES rac.tenants (id),
    ADD CONSTRAINT expectations_action_id_fkey FOREIGN KEY (action_id) REFERENCES rac.contract_actions (id);
ALTER TABLE rac.acks
    ADD CONSTRAINT acks_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES rac.tenants (id),
    ADD CONSTRAINT acks_action_id_fkey FOREIGN KEY (action_id) REFERENCES rac.contract_actions (id);
