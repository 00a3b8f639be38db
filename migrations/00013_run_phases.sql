-- Run orchestration (docs/orchestrator-guide.md): a governance checkpoint
-- inside the orchestrator's finalize transaction, a run's phases, and spans
-- of start/complete ack pairs.
--
-- Governance checks. rac.governance_check judges a run's expectations
-- (all but orchestrator/finalize_run) and its acks with the reconciler's
-- rules (rac.action_state, plus invalid contracts, drift and waivers), in
-- one statement, so from one snapshot: what had committed when the
-- statement began plus the caller's own transaction. Every check the
-- caller commits is a row of rac.governance_checks with its outcome
-- (passed, excepted: unmet items finalized as exceptions, refused), its
-- unmet items and the snapshot it judged (pg_current_snapshot() as text),
-- so anyone can later tell which evidence it saw (rac.governance_unseen).
-- At most one passed or excepted check per run (a partial unique index):
-- two transactions finalizing the same run cannot both succeed.
--
-- Phases. rac.run_phases records a run's phases, append-only, in order:
-- created, authorized, executing, governance_check, finalizing, completed
-- (seq 1 to 6). rac.advance_phase appends the next one and refuses
-- skipping, going back and repeating; governance_check is recorded only by
-- a passing (or excepting) governance check. The unique key (run, tenant,
-- seq) makes two transactions advancing a run to the same phase exclusive.
-- Phases are optional: a run with none is checked all the same.
--
-- Both tables record their author (rac.authors, migration 00012), are
-- tenant-scoped with row-level security like the other ledger tables, and
-- are written only through the functions (SECURITY DEFINER), which
-- rac_writer may execute. Auditors read the views rac.run_timeline,
-- rac.governance_exceptions, rac.governance_unseen and rac.spans.
--
-- SQLSTATEs:
--   RC130 invalid argument (policy, phase, note)
--   RC131 phase transition refused: skipping, going back or repeating
--   RC132 the run records phases and is not executing (governance check)
--   RC133 the run already passed a governance check
--   RC134 the role may not act for the orchestrator (rac.domain_roles)
--   RC135 the tenant named is out of the session's scope

-- +goose Up

CREATE TABLE rac.governance_checks (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id      bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    checked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    grace_ms   bigint      NOT NULL CHECK (grace_ms >= 0),
    run_id     uuid        NOT NULL,
    tenant_id  smallint    NOT NULL DEFAULT 1 REFERENCES rac.tenants (id),
    author_id  integer     NOT NULL DEFAULT rac.author_id() REFERENCES rac.authors (id),
    policy     text        NOT NULL CHECK (policy IN ('refuse', 'except')),
    outcome    text        NOT NULL CHECK (outcome IN ('passed', 'excepted', 'refused')),
    snapshot   text        NOT NULL,
    unmet      jsonb       NOT NULL DEFAULT '[]',
    CONSTRAINT governance_checks_unmet CHECK ((outcome = 'passed') = (unmet = '[]'::jsonb))
);

COMMENT ON TABLE rac.governance_checks IS
    'Governance checkpoints of runs: outcome passed (nothing unmet), excepted (finalized with the unmet items as '
    'exceptions) or refused; unmet lists {domain, action, status}; snapshot is the pg_current_snapshot() the judgment '
    'read. At most one passed or excepted check per run. Append-only.';
COMMENT ON COLUMN rac.governance_checks.snapshot IS
    'pg_current_snapshot() of the judging statement: a row whose tx_id is not visible in it was not seen.';

CREATE UNIQUE INDEX governance_checks_once ON rac.governance_checks (run_id, tenant_id) WHERE outcome <> 'refused';
CREATE INDEX governance_checks_run ON rac.governance_checks (run_id, tenant_id);
CREATE INDEX governance_checks_tx_id_brin ON rac.governance_checks USING brin (tx_id) WITH (autosummarize = on);

CREATE TABLE rac.run_phases (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id       bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    check_id    bigint      REFERENCES rac.governance_checks (id),
    run_id      uuid        NOT NULL,
    author_id   integer     NOT NULL DEFAULT rac.author_id() REFERENCES rac.authors (id),
    tenant_id   smallint    NOT NULL DEFAULT 1 REFERENCES rac.tenants (id),
    seq         smallint    NOT NULL CHECK (seq BETWEEN 1 AND 6),
    phase       text        NOT NULL,
    note        text        CHECK (octet_length(note) <= 1024),
    CONSTRAINT run_phases_order CHECK (
        phase = (ARRAY['created', 'authorized', 'executing', 'governance_check', 'finalizing', 'completed'])[seq]),
    CONSTRAINT run_phases_check CHECK ((phase = 'governance_check') = (check_id IS NOT NULL)),
    CONSTRAINT run_phases_once UNIQUE (run_id, tenant_id, seq)
);

COMMENT ON TABLE rac.run_phases IS
    'Phase transitions of runs, in order (seq 1-6: created, authorized, executing, governance_check, finalizing, '
    'completed), each once; governance_check names its governance check. Append-only.';

CREATE INDEX run_phases_tx_id_brin ON rac.run_phases USING brin (tx_id) WITH (autosummarize = on);

CREATE TRIGGER governance_checks_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.governance_checks
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER run_phases_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.run_phases
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER governance_checks_identity_guard BEFORE INSERT ON rac.governance_checks
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.governance_checks_id_seq');
CREATE TRIGGER run_phases_identity_guard BEFORE INSERT ON rac.run_phases
    FOR EACH ROW EXECUTE FUNCTION rac.guard_identity('rac.run_phases_id_seq');

ALTER TABLE rac.governance_checks ENABLE ROW LEVEL SECURITY;
ALTER TABLE rac.run_phases ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_reads ON rac.governance_checks FOR SELECT
    USING (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]));
CREATE POLICY tenant_reads ON rac.run_phases FOR SELECT
    USING (tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]));
CREATE POLICY reconciler_reads ON rac.governance_checks FOR SELECT TO rac_reconciler USING (true);
CREATE POLICY reconciler_reads ON rac.run_phases FOR SELECT TO rac_reconciler USING (true);
-- No insert policy: only the functions (run as the owner) write.

GRANT SELECT ON rac.governance_checks, rac.run_phases TO rac_reconciler;

-- rac.orchestrator_tenant: the tenant an orchestrator function acts in:
-- tenant named (it must be in the session's scope, RC135), else
-- rac.current_tenant(); and the role must be allowed to ack the
-- orchestrator's finalize_run (RC134).
-- +goose StatementBegin
CREATE FUNCTION rac.orchestrator_tenant(fn text, tenant text) RETURNS smallint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_tenant   smallint;
    v_finalize smallint;
BEGIN
    IF orchestrator_tenant.tenant IS NULL OR orchestrator_tenant.tenant = '' THEN
        v_tenant := rac.current_tenant();
    ELSE
        SELECT t.id INTO v_tenant FROM rac.tenants t WHERE t.name = orchestrator_tenant.tenant;
        IF v_tenant IS NULL OR NOT v_tenant = ANY (rac.tenant_scope()) THEN
            RAISE EXCEPTION '%: tenant % is unknown or out of this session''s scope', fn,
                    pg_catalog.quote_literal(orchestrator_tenant.tenant)
                USING ERRCODE = 'RC135', COLUMN = 'tenant';
        END IF;
    END IF;
    SELECT c.id INTO v_finalize FROM rac.contract_actions c WHERE c.domain = 'orchestrator' AND c.action = 'finalize_run';
    IF NOT v_finalize = ANY (coalesce(rac.domain_scope('ack'), ARRAY[v_finalize])) THEN
        RAISE EXCEPTION '%: role % may not act for the orchestrator', fn, session_user
            USING ERRCODE = 'RC134', COLUMN = 'domain',
                  HINT = 'rac.domain_roles pins this role to other domains for privilege ack.';
    END IF;
    RETURN v_tenant;
END;
$$;
-- +goose StatementEnd

-- rac.governance_judge: the checkpoint's judgment of one run, in one
-- statement (one snapshot), with the reconciler's rules: each expected
-- action but orchestrator/finalize_run by rac.action_state as of
-- clock_timestamp() with the given grace; an expectation without a
-- deadline is invalid; an ack of an action never expected is drift; so is
-- a missing finalize_run expectation (the finalize ack would be drift),
-- and a finalize_run declared without deadline is invalid. A status whose
-- finding a person waived counts as met (waived), as the reconciler's open
-- findings do. Returns every judged action and the snapshot it read.
-- +goose StatementBegin
CREATE FUNCTION rac.governance_judge(p_tenant smallint, p_run uuid, p_grace interval)
RETURNS TABLE (action_id smallint, status text, met boolean, snapshot text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL, not SQL: a SQL function that cannot be inlined is planned
    -- again on every call; this plan is cached per session.
    RETURN QUERY
    WITH fin AS (
        SELECT c.id FROM rac.contract_actions c WHERE c.domain = 'orchestrator' AND c.action = 'finalize_run'
    ),
    e AS (
        SELECT e.action_id, e.deadline_at FROM rac.expectations e
        WHERE e.run_id = p_run AND e.tenant_id = p_tenant
    ),
    a AS (
        SELECT a.action_id,
               min(a.acked_at) FILTER (WHERE a.error IS NULL) AS first_success_at,
               min(a.acked_at) FILTER (WHERE a.error IS NOT NULL) AS first_error_at
        FROM rac.acks a
        WHERE a.run_id = p_run AND a.tenant_id = p_tenant
        GROUP BY a.action_id
    ),
    judged AS (
        SELECT coalesce(e.action_id, a.action_id) AS action_id,
               CASE
                   WHEN e.action_id IS NOT NULL AND e.deadline_at IS NULL THEN 'invalid'
                   ELSE rac.action_state(e.action_id IS NOT NULL, e.deadline_at, a.first_success_at, a.first_error_at,
                                         clock_timestamp(), p_grace)
               END AS status
        FROM e FULL JOIN a ON a.action_id = e.action_id
        WHERE coalesce(e.action_id, a.action_id) <> (SELECT id FROM fin)
        UNION ALL
        -- finalize_run: only its declaration is judged (its ack is what
        -- the checkpoint writes).
        SELECT f.id, CASE WHEN e.action_id IS NULL THEN 'drift' WHEN e.deadline_at IS NULL THEN 'invalid' END
        FROM fin f LEFT JOIN e ON e.action_id = f.id
        WHERE e.action_id IS NULL OR e.deadline_at IS NULL
    ),
    waived AS (
        SELECT f.action_id, f.kind FROM rac.findings f
        JOIN rac.finding_resolutions r ON r.finding_id = f.id AND r.resolution = 'waived'
        WHERE f.run_id = p_run AND f.tenant_id = p_tenant
    )
    SELECT j.action_id,
           CASE WHEN w.kind IS NOT NULL THEN 'waived' ELSE j.status END,
           j.status IN ('acked', 'late') OR w.kind IS NOT NULL,
           pg_current_snapshot()::text
    FROM judged j
    LEFT JOIN waived w ON w.action_id = j.action_id AND w.kind = j.status
    UNION ALL
    -- Always one row, so the snapshot is returned for a run with nothing.
    SELECT NULL::smallint, NULL::text, true, pg_current_snapshot()::text;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.governance_judge(smallint, uuid, interval) IS
    'The governance checkpoint''s judgment of a run (internal: called by rac.governance_check). One row per judged '
    'action, with its status and whether it is met, plus one row with action_id NULL; all with the snapshot read.';

-- rac.governance_check: the checkpoint. Judges run_id (rac.governance_judge)
-- and records the check:
--   nothing unmet                passed: written, with phase governance_check
--   unmet, policy 'except'       excepted: written with the unmet items, and
--                                phase governance_check
--   unmet, policy 'refuse'       refused: written (commit it or not), no phase
-- With finalize (the default) a passed or excepted check also writes the
-- finalize_run ack (rac.ack, result_id 'governance_check:<id>', idempotency
-- key 'governance_check'); the Go library passes false and acks itself.
-- A run that records phases must be executing (RC132) and a run that
-- passed a check before cannot pass another (RC133); with strict false
-- these return outcome 'out_of_phase' or 'finalized' instead of raising,
-- writing nothing, so a caller's transaction stays usable.
-- Returns one row per unmet item (domain, action, status), or one row with
-- NULL domain when nothing is unmet, each with the outcome and check id.
-- +goose StatementBegin
CREATE FUNCTION rac.governance_check(
    run_id   uuid,
    policy   text     DEFAULT 'refuse',
    grace    interval DEFAULT '0',
    finalize boolean  DEFAULT true,
    tenant   text     DEFAULT NULL,
    strict   boolean  DEFAULT true
) RETURNS TABLE (outcome text, check_id bigint, domain text, action text, status text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_run      uuid := governance_check.run_id;
    v_tenant   smallint;
    v_latest   smallint;
    v_snapshot text;
    v_unmet    jsonb;
    v_outcome  text;
    v_id       bigint;
BEGIN
    IF v_run IS NULL OR v_run = '00000000-0000-0000-0000-000000000000' THEN
        RAISE EXCEPTION 'rac.governance_check: invalid run_id: % is the nil UUID', coalesce(v_run::text, 'NULL')
            USING ERRCODE = 'RC101', COLUMN = 'run_id';
    END IF;
    IF governance_check.policy IS NULL OR governance_check.policy NOT IN ('refuse', 'except') THEN
        RAISE EXCEPTION 'rac.governance_check: invalid policy: % (refuse or except)',
                pg_catalog.quote_nullable(governance_check.policy)
            USING ERRCODE = 'RC130', COLUMN = 'policy';
    END IF;
    IF governance_check.grace IS NULL OR governance_check.grace < interval '0' THEN
        RAISE EXCEPTION 'rac.governance_check: invalid grace: % (zero or more)', coalesce(governance_check.grace::text, 'NULL')
            USING ERRCODE = 'RC130', COLUMN = 'grace';
    END IF;
    v_tenant := rac.orchestrator_tenant('rac.governance_check', governance_check.tenant);
    -- rac.ack writes in rac.current_tenant(): the check must act there too.
    IF governance_check.finalize AND v_tenant <> rac.current_tenant() THEN
        RAISE EXCEPTION 'rac.governance_check: invalid tenant: finalize writes its ack in the session''s tenant; '
                'name the tenant with rac.tenant, or pass finalize => false and ack yourself'
            USING ERRCODE = 'RC130', COLUMN = 'tenant';
    END IF;

    SELECT max(p.seq) INTO v_latest FROM rac.run_phases p WHERE p.run_id = v_run AND p.tenant_id = v_tenant;
    IF v_latest IS NOT NULL AND v_latest <> 3 THEN
        IF governance_check.strict THEN
            RAISE EXCEPTION 'rac.governance_check: run % is in phase %, not executing', v_run,
                    (ARRAY['created', 'authorized', 'executing', 'governance_check', 'finalizing', 'completed'])[v_latest]
                USING ERRCODE = 'RC132', COLUMN = 'run_id';
        END IF;
        RETURN QUERY SELECT 'out_of_phase'::text, NULL::bigint, NULL::text, NULL::text,
            (ARRAY['created', 'authorized', 'executing', 'governance_check', 'finalizing', 'completed'])[v_latest];
        RETURN;
    END IF;

    -- One statement: one snapshot for every action of the run.
    SELECT min(j.snapshot),
           coalesce(jsonb_agg(jsonb_build_object('domain', c.domain, 'action', c.action, 'status', j.status)
                              ORDER BY c.domain, c.action) FILTER (WHERE NOT j.met), '[]')
    INTO v_snapshot, v_unmet
    FROM rac.governance_judge(v_tenant, v_run, governance_check.grace) j
    LEFT JOIN rac.contract_actions c ON c.id = j.action_id;

    v_outcome := CASE WHEN v_unmet = '[]' THEN 'passed' WHEN governance_check.policy = 'except' THEN 'excepted' ELSE 'refused' END;
    INSERT INTO rac.governance_checks AS g (tenant_id, run_id, policy, outcome, grace_ms, snapshot, unmet)
    VALUES (v_tenant, v_run, governance_check.policy, v_outcome, floor(extract(epoch FROM governance_check.grace) * 1000),
            v_snapshot, v_unmet)
    ON CONFLICT (run_id, tenant_id) WHERE outcome <> 'refused' DO NOTHING
    RETURNING g.id INTO v_id;
    IF v_id IS NULL THEN
        IF governance_check.strict THEN
            RAISE EXCEPTION 'rac.governance_check: run % passed a governance check before', v_run
                USING ERRCODE = 'RC133', COLUMN = 'run_id';
        END IF;
        RETURN QUERY SELECT 'finalized'::text, NULL::bigint, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;

    IF v_outcome <> 'refused' THEN
        IF v_latest IS NOT NULL THEN
            INSERT INTO rac.run_phases (tenant_id, run_id, seq, phase, check_id)
            VALUES (v_tenant, v_run, 4, 'governance_check', v_id);
        END IF;
        IF governance_check.finalize THEN
            PERFORM rac.ack(v_run, 'orchestrator', 'finalize_run', result_id => 'governance_check:' || v_id,
                            idempotency_key => 'governance_check');
        END IF;
    END IF;

    IF v_unmet = '[]' THEN
        RETURN QUERY SELECT v_outcome, v_id, NULL::text, NULL::text, NULL::text;
    ELSE
        RETURN QUERY SELECT v_outcome, v_id, u.domain, u.action, u.status
            FROM jsonb_to_recordset(v_unmet) AS u (domain text, action text, status text);
    END IF;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.governance_check(uuid, text, interval, boolean, text, boolean) IS
    'Governance checkpoint of a run inside the caller''s transaction: passed, excepted (policy except) or refused '
    '(policy refuse), recorded in rac.governance_checks; a passed or excepted check records phase governance_check '
    '(when the run records phases) and, with finalize, the finalize_run ack. One row per unmet item. '
    'SQLSTATEs RC101, RC130, RC132 (not executing), RC133 (checked before), RC134, RC135.';

-- rac.advance_phase: appends run_id's next phase. phase must be the one
-- after the run's latest (created when it has none); governance_check is
-- recorded by rac.governance_check only. Refusals raise RC131 (with strict
-- false they return the refusal instead, writing nothing). Returns the new
-- row's id, the run's latest phase before the call, and the refusal
-- (NULL when written): skip, backward, repeat, taken (another transaction
-- recorded it meanwhile), reserved (governance_check).
-- +goose StatementBegin
CREATE FUNCTION rac.advance_phase(
    run_id uuid,
    phase  text,
    note   text    DEFAULT NULL,
    tenant text    DEFAULT NULL,
    strict boolean DEFAULT true
) RETURNS TABLE (phase_id bigint, latest text, refusal text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_phases  constant text[] := ARRAY['created', 'authorized', 'executing', 'governance_check', 'finalizing', 'completed'];
    v_run     uuid := advance_phase.run_id;
    v_phase   text := advance_phase.phase;
    v_seq     smallint;
    v_tenant  smallint;
    v_latest  smallint;
    v_refusal text;
    v_id      bigint;
BEGIN
    IF v_run IS NULL OR v_run = '00000000-0000-0000-0000-000000000000' THEN
        RAISE EXCEPTION 'rac.advance_phase: invalid run_id: % is the nil UUID', coalesce(v_run::text, 'NULL')
            USING ERRCODE = 'RC101', COLUMN = 'run_id';
    END IF;
    v_seq := array_position(v_phases, v_phase);
    IF v_seq IS NULL THEN
        RAISE EXCEPTION 'rac.advance_phase: invalid phase: % (one of %)', pg_catalog.quote_nullable(v_phase),
                array_to_string(v_phases, ', ')
            USING ERRCODE = 'RC130', COLUMN = 'phase';
    END IF;
    IF octet_length(advance_phase.note) > 1024 THEN
        RAISE EXCEPTION 'rac.advance_phase: invalid note: % bytes, at most 1024', octet_length(advance_phase.note)
            USING ERRCODE = 'RC130', COLUMN = 'note';
    END IF;
    v_tenant := rac.orchestrator_tenant('rac.advance_phase', advance_phase.tenant);

    SELECT max(p.seq) INTO v_latest FROM rac.run_phases p WHERE p.run_id = v_run AND p.tenant_id = v_tenant;
    v_refusal := CASE
        WHEN v_seq = 4 THEN 'reserved'
        WHEN v_seq = coalesce(v_latest, 0) + 1 THEN NULL
        WHEN v_seq = v_latest THEN 'repeat'
        WHEN v_seq < v_latest THEN 'backward'
        ELSE 'skip'
    END;
    IF v_refusal IS NULL THEN
        INSERT INTO rac.run_phases AS p (tenant_id, run_id, seq, phase, note)
        VALUES (v_tenant, v_run, v_seq, v_phase, nullif(advance_phase.note, ''))
        ON CONFLICT ON CONSTRAINT run_phases_once DO NOTHING
        RETURNING p.id INTO v_id;
        IF v_id IS NULL THEN
            v_refusal := 'taken';
        END IF;
    END IF;
    IF v_refusal IS NOT NULL AND advance_phase.strict THEN
        RAISE EXCEPTION 'rac.advance_phase: run % cannot enter phase % (%): its latest phase is %', v_run, v_phase,
                v_refusal, coalesce(v_phases[v_latest], 'none')
            USING ERRCODE = 'RC131', COLUMN = 'phase',
                  HINT = CASE v_refusal
                      WHEN 'reserved' THEN 'Phase governance_check is recorded by rac.governance_check.'
                      WHEN 'taken' THEN 'Another transaction recorded this phase first.'
                      ELSE 'Phases follow created, authorized, executing, governance_check, finalizing, completed.' END;
    END IF;
    RETURN QUERY SELECT v_id, v_phases[v_latest], v_refusal;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION rac.advance_phase(uuid, text, text, text, boolean) IS
    'Appends the next phase of a run (created, authorized, executing, [governance_check by rac.governance_check], '
    'finalizing, completed), authored by the login role. RC131: skipping, going back, repeating, or taken by another '
    'transaction; RC130 bad phase or note; RC134, RC135.';

REVOKE ALL ON FUNCTION rac.orchestrator_tenant(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.governance_judge(smallint, uuid, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.governance_check(uuid, text, interval, boolean, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION rac.advance_phase(uuid, text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rac.governance_check(uuid, text, interval, boolean, text, boolean) TO rac_writer;
GRANT EXECUTE ON FUNCTION rac.advance_phase(uuid, text, text, text, boolean) TO rac_writer;

-- rac.run_timeline: every phase of every run in scope, with its author,
-- the time since the previous phase and, for governance_check, the
-- checkpoint's outcome and unmet items.
CREATE VIEW rac.run_timeline WITH (security_barrier) AS
SELECT t.name AS tenant_id,
       p.run_id,
       p.seq,
       p.phase,
       p.recorded_at,
       p.recorded_at - lag(p.recorded_at) OVER (PARTITION BY p.tenant_id, p.run_id ORDER BY p.seq) AS since_previous,
       au.role_name::text AS author,
       p.note,
       p.check_id,
       g.outcome AS check_outcome,
       g.unmet AS check_unmet
FROM rac.run_phases p
JOIN rac.tenants t ON t.id = p.tenant_id
LEFT JOIN rac.authors au ON au.id = p.author_id
LEFT JOIN rac.governance_checks g ON g.id = p.check_id
WHERE p.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

COMMENT ON VIEW rac.run_timeline IS
    'Phases of each run in order, with the login role that recorded each (author), the time since the previous phase, '
    'and for governance_check the checkpoint''s outcome and unmet items.';

-- rac.governance_outcomes: every governance check in scope.
CREATE VIEW rac.governance_outcomes WITH (security_barrier) AS
SELECT g.id AS check_id,
       t.name AS tenant_id,
       g.run_id,
       g.checked_at,
       au.role_name::text AS author,
       g.policy,
       g.outcome,
       g.grace_ms,
       g.unmet,
       g.snapshot
FROM rac.governance_checks g
JOIN rac.tenants t ON t.id = g.tenant_id
LEFT JOIN rac.authors au ON au.id = g.author_id
WHERE g.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

COMMENT ON VIEW rac.governance_outcomes IS
    'Every governance checkpoint: passed, excepted (finalized with exceptions) or refused, with its unmet items.';

-- rac.governance_exceptions: each unmet item a run was finalized with
-- (outcome excepted), beside the reconciler's finding of the same kind for
-- the same action, when one was recorded, and whether it is open.
CREATE VIEW rac.governance_exceptions WITH (security_barrier) AS
SELECT g.id AS check_id,
       t.name AS tenant_id,
       g.run_id,
       u.item ->> 'domain' AS domain,
       u.item ->> 'action' AS action,
       u.item ->> 'status' AS status_at_check,
       g.checked_at,
       au.role_name::text AS author,
       f.id AS finding_id,
       f.kind AS finding_kind,
       (f.id IS NOT NULL AND r.id IS NULL AND f.kind <> 'late') AS finding_open,
       r.resolution AS finding_resolution
FROM rac.governance_checks g
CROSS JOIN LATERAL jsonb_array_elements(g.unmet) AS u (item)
JOIN rac.tenants t ON t.id = g.tenant_id
LEFT JOIN rac.authors au ON au.id = g.author_id
LEFT JOIN rac.contract_actions c ON c.domain = u.item ->> 'domain' AND c.action = u.item ->> 'action'
LEFT JOIN rac.findings f
       ON f.run_id = g.run_id AND f.tenant_id = g.tenant_id AND f.action_id = c.id
      AND f.kind = CASE u.item ->> 'status' WHEN 'pending' THEN 'missing' ELSE u.item ->> 'status' END
LEFT JOIN rac.finding_resolutions r ON r.finding_id = f.id
WHERE g.outcome = 'excepted'
  AND g.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

COMMENT ON VIEW rac.governance_exceptions IS
    'Unmet items runs were finalized with (governance check outcome excepted), each with the reconciler''s finding of '
    'that kind (a pending item: missing) for the same action, if recorded, and whether it is still open.';

-- rac.governance_unseen: evidence of a checked run (passed or excepted)
-- that the check's snapshot did not include: rows of transactions that
-- had not committed when it judged (or that committed after it), other
-- than the check's own. written_before_check: the row's own time precedes
-- the check (it was in flight).
CREATE VIEW rac.governance_unseen WITH (security_barrier) AS
SELECT g.id AS check_id,
       t.name AS tenant_id,
       g.run_id,
       x.kind,
       x.id AS evidence_id,
       c.domain,
       c.action,
       x.written_at,
       x.error,
       x.written_at <= g.checked_at AS written_before_check
FROM rac.governance_checks g
JOIN LATERAL (
    SELECT 'expectation'::text AS kind, e.id, e.tx_id, e.action_id, e.declared_at AS written_at, NULL::text AS error
    FROM rac.expectations e WHERE e.run_id = g.run_id AND e.tenant_id = g.tenant_id
    UNION ALL
    SELECT 'ack', a.id, a.tx_id, a.action_id, a.acked_at, a.error
    FROM rac.acks a WHERE a.run_id = g.run_id AND a.tenant_id = g.tenant_id
) x ON x.tx_id <> g.tx_id AND NOT pg_visible_in_snapshot(x.tx_id::text::xid8, g.snapshot::pg_snapshot)
JOIN rac.tenants t ON t.id = g.tenant_id
JOIN rac.contract_actions c ON c.id = x.action_id
WHERE g.outcome <> 'refused'
  AND g.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);

COMMENT ON VIEW rac.governance_unseen IS
    'Expectations and acks of a finalized run that its governance check did not see (not committed in its snapshot), '
    'other than the check''s own transaction''s; written_before_check marks evidence that was in flight.';

-- rac.spans: start/complete pairs. For every domain with actions start_X
-- and complete_X (logs/start_trace and logs/complete_trace), the first
-- successful ack of each per run, and the time between them.
CREATE VIEW rac.spans WITH (security_barrier) AS
WITH firsts AS (
    SELECT a.tenant_id, a.run_id, a.action_id, min(a.acked_at) AS first_at,
           (array_agg(a.result_id ORDER BY a.acked_at, a.id))[1] AS result_id,
           (array_agg(a.author_id ORDER BY a.acked_at, a.id))[1] AS author_id
    FROM rac.acks a
    WHERE a.error IS NULL
      AND a.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
      AND a.action_id IN (SELECT c.id FROM rac.contract_actions c WHERE c.action LIKE 'start\_%' OR c.action LIKE 'complete\_%')
    GROUP BY a.tenant_id, a.run_id, a.action_id
)
SELECT t.name AS tenant_id,
       s.run_id,
       cs.domain,
       substr(cs.action, 7) AS span,
       s.first_at AS started_at,
       f.first_at AS completed_at,
       f.first_at - s.first_at AS duration,
       s.result_id AS start_result_id,
       f.result_id AS complete_result_id,
       sa.role_name::text AS started_by,
       fa.role_name::text AS completed_by
FROM firsts s
JOIN rac.contract_actions cs ON cs.id = s.action_id AND cs.action LIKE 'start\_%'
JOIN rac.tenants t ON t.id = s.tenant_id
LEFT JOIN rac.contract_actions cf ON cf.domain = cs.domain AND cf.action = 'complete_' || substr(cs.action, 7)
LEFT JOIN firsts f ON f.tenant_id = s.tenant_id AND f.run_id = s.run_id AND f.action_id = cf.id
LEFT JOIN rac.authors sa ON sa.id = s.author_id
LEFT JOIN rac.authors fa ON fa.id = f.author_id;

COMMENT ON VIEW rac.spans IS
    'Start/complete pairs (domain actions start_X and complete_X, e.g. logs/start_trace): the first successful ack of '
    'each per run, and duration between them (NULL while not completed).';

GRANT SELECT ON rac.run_timeline, rac.governance_outcomes, rac.governance_exceptions, rac.governance_unseen, rac.spans
    TO rac_auditor;

-- +goose Down
DROP VIEW rac.spans;
DROP VIEW rac.governance_unseen;
DROP VIEW rac.governance_exceptions;
DROP VIEW rac.governance_outcomes;
DROP VIEW rac.run_timeline;
DROP FUNCTION rac.advance_phase(uuid, text, text, text, boolean);
DROP FUNCTION rac.governance_check(uuid, text, interval, boolean, text, boolean);
DROP FUNCTION rac.governance_judge(smallint, uuid, interval);
DROP FUNCTION rac.orchestrator_tenant(text, text);
DROP TABLE rac.run_phases;
DROP TABLE rac.governance_checks;
