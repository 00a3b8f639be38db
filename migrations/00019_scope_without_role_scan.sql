-- The scope functions read only the mapped roles, not every role of the
-- cluster.
--
-- rac.tenant_scope and rac.domain_scope (migrations 00006, 00012) joined
-- the mapping with pg_roles and filtered with pg_has_role. The planner ran
-- that as a scan of every role in the cluster with a membership check per
-- role, so a pinned session paid for every role of the cluster on every
-- statement: with 2,000 roles about 270 µs per call (about 20 µs with
-- 20), and a pinned writer's ack calls them three times, a pinned reader
-- once per statement. Now each mapping row's role is looked up by name
-- (to_regrole on the quoted name; a role that no longer exists is no
-- member of anything, as the join dropped it), which costs the same with
-- 20 roles or 2,000 (docs/performance.md, "Pinned writers").
-- rac.domain_scope is also one statement instead of three (about 40%
-- less per call).
--
-- The same for tenants: for a session nobody pinned and that names no
-- tenant, rac.tenant_scope checked whether it is an operator once per
-- tenant row (two membership checks each), so every read statement of
-- such a session, an auditor's say, paid for every tenant: about 295 µs
-- per statement with 1,000 tenants. It now checks once, and only when a
-- tenant other than default exists. rac.sees_every_tenant (migration
-- 00014), which passes, seals and exports ask, called rac.tenant_scope
-- once per tenant row; it now calls it once.
--
-- Nothing else changes: the same mappings pin the same sessions, and
-- every session's scope is the same.

-- +goose Up

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.tenant_scope() RETURNS smallint[]
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
        WHERE pg_catalog.pg_has_role(session_user, pg_catalog.to_regrole(pg_catalog.quote_ident(m.role_name)), 'MEMBER')
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
    -- Whether the session is one of those is asked once, and only when a
    -- tenant other than default exists.
    RETURN CASE
        WHEN EXISTS (SELECT FROM rac.tenants t WHERE t.name <> 'default')
             AND (v_all
                  OR (SELECT s.rolsuper FROM pg_catalog.pg_roles s WHERE s.rolname = session_user)
                  OR pg_catalog.pg_has_role(session_user,
                         (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'rac'), 'MEMBER')
                  OR pg_catalog.pg_has_role(session_user, 'rac_reconciler', 'MEMBER'))
        THEN ARRAY(SELECT t.id FROM rac.tenants t ORDER BY t.id)
        ELSE ARRAY(SELECT t.id FROM rac.tenants t WHERE t.name = 'default')
    END;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.domain_scope(privilege text) RETURNS smallint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF NOT EXISTS (SELECT FROM rac.domain_roles) THEN
        RETURN NULL;
    END IF;
    -- One statement: the mappings that apply to the session (none for a
    -- superuser, a member of every role) and, when there are any, the
    -- actions of the domains they allow for privilege.
    RETURN (
        SELECT CASE WHEN count(*) = 0 THEN NULL
                    ELSE ARRAY(SELECT c.id FROM rac.contract_actions c
                               WHERE coalesce(bool_or(m.domain IS NULL) FILTER (WHERE m.privilege = domain_scope.privilege), false)
                                  OR c.domain = ANY (coalesce(array_agg(m.domain) FILTER (WHERE m.privilege = domain_scope.privilege
                                                                                          AND m.domain IS NOT NULL), '{}'))
                               ORDER BY c.id)
               END
        FROM rac.domain_roles m
        WHERE pg_catalog.pg_has_role(session_user, pg_catalog.to_regrole(pg_catalog.quote_ident(m.role_name)), 'MEMBER')
          AND NOT (SELECT s.rolsuper FROM pg_catalog.pg_roles s WHERE s.rolname = session_user));
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.sees_every_tenant() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT EXISTS (SELECT 1 FROM rac.tenants t
                       WHERE NOT t.id OPERATOR(pg_catalog.=) ANY ((SELECT rac.tenant_scope())::smallint[]))
$$;
-- +goose StatementEnd

-- +goose Down

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.sees_every_tenant() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT EXISTS (SELECT 1 FROM rac.tenants t
                       WHERE NOT t.id OPERATOR(pg_catalog.=) ANY (rac.tenant_scope()))
$$;
-- +goose StatementEnd


-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.domain_scope(privilege text) RETURNS smallint[]
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rac.tenant_scope() RETURNS smallint[]
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
