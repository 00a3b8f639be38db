-- Confluence: verdicts that depend only on the evidence, not on when
-- passes ran (docs/auditor-guide.md, "How findings close").
--
-- A pass sees only what has committed, and a transaction may commit long
-- after it wrote. So a pass can record a finding that evidence committed
-- later makes untrue. Such a finding is closed by an appended resolution
-- that says why, derived from the evidence's own timestamps:
--   acked       a success ack written after the violation began (late)
--   retracted   the evidence was written at or before the violation's time
--               and committed after the finding: the finding never held
--   superseded  an error ack written after the deadline turned a missing
--               action into a failed one (a failed finding is recorded)
--   declared    the expectation of a drift ack was written after the ack
--               and committed later: the ack preceded its declaration
--   waived      a person closed it (rac.waive)
-- resolved_at is when the finding stopped holding: the evidence's time, or
-- the violation's own time for a retraction (it never held), so it is never
-- before violated_at. recorded_at is when the resolution was written, after
-- the finding was detected. ack_id names the evidence ack; a drift's
-- evidence is the expectation of its own (tenant, run, domain, action).

-- +goose Up
ALTER TABLE rac.finding_resolutions DROP CONSTRAINT finding_resolutions_resolution_check;
ALTER TABLE rac.finding_resolutions DROP CONSTRAINT finding_resolutions_check;
ALTER TABLE rac.finding_resolutions ADD CONSTRAINT finding_resolutions_resolution_check
    CHECK (resolution IN ('acked', 'retracted', 'superseded', 'declared', 'waived'));
ALTER TABLE rac.finding_resolutions ADD CONSTRAINT finding_resolutions_evidence_check
    CHECK (CASE resolution
               WHEN 'acked' THEN ack_id IS NOT NULL
               WHEN 'superseded' THEN ack_id IS NOT NULL
               WHEN 'retracted' THEN true
               ELSE ack_id IS NULL
           END);

COMMENT ON TABLE rac.finding_resolutions IS
    'A finding that stopped holding, closed once and never reopened: acked (a success ack written after the violation '
    'began), retracted (evidence written in time but committed after the finding: it never held), superseded (an error '
    'ack written after the deadline made a missing action failed), declared (a drift ack''s expectation, written after '
    'the ack, committed later) or waived. resolved_at: when it stopped holding (never before violated_at); ack_id: the '
    'evidence ack.';

COMMENT ON TABLE rac.run_verdicts IS
    'A run''s verdict each time it changes (seq 1, 2, ...), and its first verdict when a finding is first recorded for '
    'it (a late ack of a clean run). A run first reconciled clean without findings has no row: rac.run_status derives '
    'clean for it.';

-- Runs the next pass must judge again whatever its windows say: a request
-- is picked up by the one pass whose transaction window holds its tx_id.
-- This migration requests every run that has a finding or a verdict, so
-- the first pass after the upgrade closes what the evidence contradicts
-- (findings left open under the earlier rules) by appending resolutions.
CREATE TABLE rac.rejudge_requests (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id        bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id       uuid        NOT NULL,
    tenant_id    smallint    NOT NULL REFERENCES rac.tenants (id),
    reason       text        NOT NULL CHECK (octet_length(reason) BETWEEN 1 AND 256)
);

COMMENT ON TABLE rac.rejudge_requests IS
    'Runs the reconciler must judge again: the pass whose transaction window holds a request''s tx_id reconciles its run.';

CREATE INDEX rejudge_requests_tx_id_brin ON rac.rejudge_requests USING brin (tx_id) WITH (autosummarize = on);

CREATE TRIGGER rejudge_requests_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rac.rejudge_requests
    FOR EACH STATEMENT EXECUTE FUNCTION rac.refuse_mutation();

GRANT SELECT ON rac.rejudge_requests TO rac_reconciler;

INSERT INTO rac.rejudge_requests (run_id, tenant_id, reason)
SELECT x.run_id, x.tenant_id, 'upgrade to confluent reconciliation (migration 00008)'
FROM (
    SELECT f.run_id, f.tenant_id FROM rac.findings f
    UNION
    SELECT v.run_id, v.tenant_id FROM rac.run_verdicts v
) x
ORDER BY x.run_id, x.tenant_id;

-- A run once listed stays listed: a run with no verdict row is reconciled
-- clean at first sight as soon as any of its rows lies below the horizon of
-- a finished pass (that pass judged it; rows that became final later only
-- matter if they change the verdict, and then a verdict row says so).
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
    HAVING min(x.tx_id) < (SELECT horizon FROM watermark)
)
SELECT t.name AS tenant_id, l.run_id, l.verdict, l.seq, l.recorded_at, l.reconciliation_id
FROM latest l JOIN rac.tenants t ON t.id = l.tenant_id
UNION ALL
SELECT t.name, u.run_id, 'clean', 0, NULL, NULL
FROM unrecorded u JOIN rac.tenants t ON t.id = u.tenant_id;

-- findings_history gains the evidence of each resolution: which row
-- (evidence_table, evidence_id) and its time (evidence_at: the ack's
-- acked_at or the expectation's declared_at).
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

-- sqlc reads a replaced view as a new one: restate the comments it shows.
COMMENT ON VIEW rac.run_status IS
    'Latest verdict per run (clean, pending, violated). seq 0: reconciled clean at first sight, no verdict row needed.';
COMMENT ON VIEW rac.findings_history IS
    'Every finding the reconciler recorded, with its resolution if any (acked, retracted, superseded, declared, waived) '
    'and the resolution''s evidence row. open: unresolved and of a violation kind (late is history, never open), as in '
    'rac.open_findings.';
COMMENT ON COLUMN rac.findings_history.evidence_table IS
    'Where the evidence of the resolution lives: acks (resolved_by_ack_id) or expectations (a drift''s declaration).';
COMMENT ON COLUMN rac.findings_history.evidence_at IS
    'The evidence row''s own time: the ack''s acked_at or the expectation''s declared_at.';

-- +goose Down
-- The earlier views, constraints and no request table. Going down fails
-- while resolutions of the new kinds exist: the earlier schema cannot
-- express them, and history is never rewritten.
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
       (r.id IS NULL AND f.kind <> 'late') AS open
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
LEFT JOIN rac.finding_resolutions r ON r.finding_id = f.id
WHERE f.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);
COMMENT ON VIEW rac.findings_history IS
    'Every finding the reconciler recorded, with its resolution (acked: a later success ack; waived) if any. '
    'open: unresolved and of a violation kind (late is history, never open), as in rac.open_findings.';
GRANT SELECT ON rac.findings_history TO rac_auditor;

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

DROP TABLE rac.rejudge_requests;

COMMENT ON TABLE rac.run_verdicts IS
    'A run''s verdict each time it changes (seq 1, 2, ...). A run first reconciled clean has no row: rac.run_status '
    'derives clean for it.';

ALTER TABLE rac.finding_resolutions DROP CONSTRAINT finding_resolutions_evidence_check;
ALTER TABLE rac.finding_resolutions DROP CONSTRAINT finding_resolutions_resolution_check;
ALTER TABLE rac.finding_resolutions ADD CONSTRAINT finding_resolutions_resolution_check
    CHECK (resolution IN ('acked', 'waived'));
ALTER TABLE rac.finding_resolutions ADD CONSTRAINT finding_resolutions_check
    CHECK ((resolution = 'acked') = (ack_id IS NOT NULL));
COMMENT ON TABLE rac.finding_resolutions IS
    'A finding that stopped being true: a later success ack (resolution = acked, resolved_at = that ack''s time) '
    'or a waiver. A finding is resolved at most once and never reopens.';
