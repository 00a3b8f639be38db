-- Reconciliation history: passes, findings, resolutions and run verdicts,
-- all append-only, plus the one definition of an action's status.

-- Findings, resolutions and verdicts carry the tenant, action and
-- reconciliation ids without foreign keys: the reconciler copies them from
-- rows the ledger's own foreign keys already checked, in the same statement
-- that writes the rac.reconciliations row, and catalog rows are never
-- deleted. Per-row referential checks would cost a third of a batch.

-- +goose Up
CREATE TABLE rac.reconciliations (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id                bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    pass_id              uuid        NOT NULL,
    batch                int         NOT NULL CHECK (batch >= 0),
    final                boolean     NOT NULL,
    scope                text        NOT NULL DEFAULT 'pass' CHECK (scope IN ('pass', 'run')),
    horizon_from         bigint      NOT NULL,
    horizon_to           bigint      NOT NULL,
    deadline_from        timestamptz NOT NULL,
    deadline_to          timestamptz NOT NULL,
    as_of                timestamptz NOT NULL,
    grace_ms             bigint      NOT NULL CHECK (grace_ms >= 0),
    candidate_runs       int         NOT NULL CHECK (candidate_runs >= 0),
    findings_recorded    int         NOT NULL DEFAULT 0,
    resolutions_recorded int         NOT NULL DEFAULT 0,
    verdicts_recorded    int         NOT NULL DEFAULT 0,
    started_at           timestamptz NOT NULL,
    finished_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    reconciler           text        NOT NULL,
    CHECK (horizon_from <= horizon_to),
    UNIQUE (pass_id, batch)
);

COMMENT ON TABLE rac.reconciliations IS
    'One row per reconciler transaction: a pass commits its work in batches, each recorded with the windows of its pass; '
    'the final batch of a pass (final = true) certifies that every run touched in [horizon_from, horizon_to) or whose '
    'deadline fell in (deadline_from, deadline_to] was reconciled as of as_of. scope = run: one run reconciled on demand.';
COMMENT ON COLUMN rac.reconciliations.horizon_to IS
    'pg_snapshot_xmin at the start of the pass: every transaction below it had finished, so rows with tx_id below it are final.';

CREATE INDEX reconciliations_horizon_to_idx ON rac.reconciliations (horizon_to) WHERE final;
CREATE INDEX reconciliations_deadline_to_idx ON rac.reconciliations (deadline_to) WHERE final;

CREATE TABLE rac.findings (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id             bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    reconciliation_id bigint      NOT NULL,
    violated_at       timestamptz NOT NULL,
    detected_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id            uuid        NOT NULL,
    tenant_id         smallint    NOT NULL,
    action_id         smallint    NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('missing', 'failed', 'drift', 'invalid', 'late', 'stale')),
    detail            jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT findings_once UNIQUE (run_id, tenant_id, action_id, kind)
);

COMMENT ON TABLE rac.findings IS
    'What the reconciler found, recorded once per (tenant, run, domain, action, kind). violated_at is when the violation '
    'became true (deadline + grace for missing and stale, the ack''s time for failed, drift and late, the declaration for '
    'invalid); detected_at is when a reconciler recorded it.';

CREATE INDEX findings_tx_id_brin ON rac.findings USING brin (tx_id) WITH (autosummarize = on);
CREATE INDEX findings_detected_at_idx ON rac.findings (detected_at);

CREATE TABLE rac.finding_resolutions (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id             bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    finding_id        bigint      NOT NULL UNIQUE REFERENCES rac.findings (id),
    reconciliation_id bigint,
    tenant_id         smallint    NOT NULL,
    resolution        text        NOT NULL CHECK (resolution IN ('acked', 'waived')),
    resolved_at       timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    ack_id            bigint,
    actor             text,
    reason            text,
    CHECK ((resolution = 'acked') = (ack_id IS NOT NULL))
);

COMMENT ON TABLE rac.finding_resolutions IS
    'A finding that stopped being true: a later success ack (resolution = acked, resolved_at = that ack''s time) '
    'or a waiver. A finding is resolved at most once and never reopens.';

CREATE TABLE rac.run_verdicts (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id             bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    reconciliation_id bigint      NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id            uuid        NOT NULL,
    tenant_id         smallint    NOT NULL,
    seq               int         NOT NULL CHECK (seq > 0),
    verdict           text        NOT NULL CHECK (verdict IN ('clean', 'pending', 'violated')),
    CONSTRAINT run_verdicts_seq UNIQUE (run_id, tenant_id, seq)
);

COMMENT ON TABLE rac.run_verdicts IS
    'A run''s verdict each time it changes (seq 1, 2, ...). A run first reconciled clean has no row: rac.run_status '
    'derives clean for it.';

CREATE TRIGGER reconciliations_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.reconciliations
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER findings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.findings
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER finding_resolutions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.finding_resolutions
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();
CREATE TRIGGER run_verdicts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.run_verdicts
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();

-- rac.action_state is the one definition of the status table in DESIGN.md:
-- the status of one (run, domain, action) as of as_of with the given grace,
-- from whether it was expected, its deadline, and the times of its first
-- success and first error ack. The reconciler and the report views call it;
-- a single STABLE SQL expression (timestamptz + interval is stable, so the
-- function must not claim IMMUTABLE), the planner inlines it.
-- +goose StatementBegin
CREATE FUNCTION rac.action_state(
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

COMMENT ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval) IS
    'Status of one (run, domain, action): acked, late, failed, pending, missing or drift (acked but never expected). '
    'An expectation without deadline (an invalid contract) is never missing or late.';

CREATE VIEW rac.open_findings AS
SELECT f.id AS finding_id, t.name AS tenant_id, f.run_id, c.domain, c.action, f.kind,
       f.violated_at, f.detected_at, f.detail, f.reconciliation_id
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
WHERE f.kind <> 'late'
  AND NOT EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id);

COMMENT ON VIEW rac.open_findings IS
    'Findings of the violation kinds (missing, failed, drift, invalid, stale) that no resolution has closed.';

-- A run's latest recorded verdict; a run every row of which lies below the
-- horizon of a finished pass and that has no recorded verdict was
-- reconciled clean the first time it was seen.
CREATE VIEW rac.run_status AS
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

COMMENT ON VIEW rac.run_status IS
    'Latest verdict per run (clean, pending, violated). seq 0: reconciled clean at first sight, no verdict row needed.';

-- +goose Down
DROP VIEW rac.run_status;
DROP VIEW rac.open_findings;
DROP FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval);
DROP TABLE rac.run_verdicts;
DROP TABLE rac.finding_resolutions;
DROP TABLE rac.findings;
DROP TABLE rac.reconciliations;
