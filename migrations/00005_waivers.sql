-- Waivers: a person with the rac_waiver role closes an open finding with a
-- reason. The finding stays in history; a resolution row records who waived
-- it, why and when. The next reconciler pass recomputes the run's verdict.
--
-- SQLSTATEs: RC108 finding not found or already resolved, RC109 finding not
-- waivable (late findings are history, not violations), RC105 reason or
-- actor too long, RC110 reason or actor missing.

-- +goose Up

-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'rac_waiver') THEN
        BEGIN
            CREATE ROLE rac_waiver NOLOGIN;
            COMMENT ON ROLE rac_waiver IS 'RAC Ledger: may waive open findings with rac.waive.';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created meanwhile by another database's migration
        END;
    END IF;
END
$$;
-- +goose StatementEnd

-- The reconciler finds waived runs through the resolutions' tx_id.
CREATE INDEX finding_resolutions_tx_id_brin ON rac.finding_resolutions USING brin (tx_id) WITH (autosummarize = on);

-- +goose StatementBegin
CREATE FUNCTION rac.waive(finding_id bigint, reason text, actor text) RETURNS bigint
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

COMMENT ON FUNCTION rac.waive(bigint, text, text) IS
    'Closes an open finding with a waiver (actor, reason, time); returns the resolution id. RC108 not found or already resolved, RC109 not waivable, RC105/RC110 bad reason or actor.';

REVOKE ALL ON FUNCTION rac.waive(bigint, text, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA rac TO rac_waiver;
GRANT EXECUTE ON FUNCTION rac.waive(bigint, text, text) TO rac_waiver;

-- +goose Down
REVOKE ALL ON FUNCTION rac.waive(bigint, text, text) FROM rac_waiver;
REVOKE ALL ON SCHEMA rac FROM rac_waiver;
DROP FUNCTION rac.waive(bigint, text, text);
DROP INDEX rac.finding_resolutions_tx_id_brin;
