-- A fast path for writers reading the default tenant's expectations and
-- acks.
--
-- The library reads rac.expectations inside every declaration (the probe
-- that keeps a redeclaration from aborting the caller's transaction), so
-- the tenant_reads policy calls rac.tenant_scope(), a PL/pgSQL function
-- of three queries, once per declaration. For a session that nobody's
-- tenant mapping can pin (rac.tenant_roles is empty) and that names no
-- tenant other than default, that function always answers a list that
-- holds tenant 1 (default): rac.tenant_writes already relies on the same
-- fact for inserts.
--
-- writer_default_tenant_reads is a second permissive policy, for
-- rac_writer only, that admits exactly those rows without the call: tenant 1, while
-- rac.tenant_roles is empty and rac.tenant is unset, empty or 'default'.
-- Permissive policies are OR'ed, and every row it admits tenant_reads
-- admits too, so what a session sees is unchanged. PostgreSQL 15 OR's
-- permissive policies in reverse name order and stops at the first arm
-- that holds, so the name sorts after tenant_reads (a test checks the
-- plan's order, since that is not a documented guarantee). It is for
-- rac_writer, which may read rac.tenant_roles (migration 00016); other
-- roles keep tenant_reads alone.
--
-- Measured (docs/performance.md, "Fewer policy plan nodes"): a writer's
-- Expect(StandardRun) at 64 clients on 2 cores ran 1.11-1.19x as fast as
-- with these policies switched off (USING (false)) between interleaved
-- segments of the same runs (6 runs).

-- +goose Up

CREATE POLICY writer_default_tenant_reads ON rac.expectations FOR SELECT TO rac_writer
    USING (NOT EXISTS (SELECT FROM rac.tenant_roles)
           AND (SELECT coalesce(nullif(pg_catalog.current_setting('rac.tenant', true), ''), 'default') = 'default')
           AND tenant_id = 1);

CREATE POLICY writer_default_tenant_reads ON rac.acks FOR SELECT TO rac_writer
    USING (NOT EXISTS (SELECT FROM rac.tenant_roles)
           AND (SELECT coalesce(nullif(pg_catalog.current_setting('rac.tenant', true), ''), 'default') = 'default')
           AND tenant_id = 1);

-- +goose Down

DROP POLICY writer_default_tenant_reads ON rac.acks;
DROP POLICY writer_default_tenant_reads ON rac.expectations;
