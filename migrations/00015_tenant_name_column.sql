-- One name for the tenant. The report views call the tenant's name
-- tenant_id (a name, not rac.tenants.id), while exports and every JSON
-- output call it tenant. Each view that has tenant_id gains a last column
-- tenant holding the same name: the name to use. tenant_id stays, in its
-- place, for the readers and checks that select it.
--
-- CREATE OR REPLACE VIEW may only append columns, so every definition
-- below is its latest one (migrations 00004, 00006, 00008, 00012 and
-- 00013) with tenant appended; options (security_barrier) are restated,
-- and grants and the dependent rac.daily_summary survive a replacement.

-- +goose Up
CREATE OR REPLACE VIEW rac.open_findings WITH (security_barrier) AS
SELECT f.id AS finding_id, t.name AS tenant_id, f.run_id, c.domain, c.action, f.kind,
       f.violated_at, f.detected_at, f.detail, f.reconciliation_id, t.name AS tenant
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
    HAVING min(x.tx_id) < (SELECT horizon FROM watermark)
)
SELECT t.name AS tenant_id, l.run_id, l.verdict, l.seq, l.recorded_at, l.reconciliation_id, t.name AS tenant
FROM latest l JOIN rac.tenants t ON t.id = l.tenant_id
UNION ALL
SELECT t.name, u.run_id, 'clean', 0, NULL, NULL, t.name
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
                        coalesce(nullif(current_setting('rac.grace', true), ''), '0')::interval) AS status,
       t.name AS tenant
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
       (r.id IS NULL AND f.kind <> 'late') AS open,
       CASE WHEN a.id IS NOT NULL THEN 'acks' WHEN e.id IS NOT NULL THEN 'expectations' END AS evidence_table,
       coalesce(a.id, e.id) AS evidence_id,
       coalesce(a.acked_at, e.declared_at) AS evidence_at,
       ra.role_name::text AS resolution_author,
       ea.role_name::text AS evidence_author,
       t.name AS tenant
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
CREATE OR REPLACE VIEW rac.daily_summary AS
SELECT s.day,
       s.tenant_id,
       s.domain,
       s.action,
       count(*) FILTER (WHERE s.expected) AS expected,
       count(*) FILTER (WHERE s.status = 'acked') AS acked_on_time,
       count(*) FILTER (WHERE s.status = 'late') AS late,
       count(*) FILTER (WHERE s.status = 'missing') AS missing,
       count(*) FILTER (WHERE s.status = 'failed') AS failed,
       count(*) FILTER (WHERE s.status = 'pending') AS pending,
       count(*) FILTER (WHERE s.status = 'drift') AS drift,
       count(*) FILTER (WHERE s.expected AND s.deadline_at IS NULL) AS invalid,
       (count(*) FILTER (WHERE s.status = 'acked')::numeric
           / nullif(count(*) FILTER (WHERE s.expected), 0))::numeric AS completeness,
       s.tenant_id AS tenant
FROM (
    SELECT (coalesce(a.deadline_at, a.declared_at, least(a.first_success_at, a.first_error_at))
            AT TIME ZONE 'UTC')::date AS day,
           a.tenant_id, a.domain, a.action, a.expected, a.deadline_at, a.status
    FROM rac.action_status a
) s
GROUP BY s.day, s.tenant_id, s.domain, s.action;
CREATE OR REPLACE VIEW rac.run_timeline WITH (security_barrier) AS
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
       g.unmet AS check_unmet,
       t.name AS tenant
FROM rac.run_phases p
JOIN rac.tenants t ON t.id = p.tenant_id
LEFT JOIN rac.authors au ON au.id = p.author_id
LEFT JOIN rac.governance_checks g ON g.id = p.check_id
WHERE p.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);
CREATE OR REPLACE VIEW rac.governance_outcomes WITH (security_barrier) AS
SELECT g.id AS check_id,
       t.name AS tenant_id,
       g.run_id,
       g.checked_at,
       au.role_name::text AS author,
       g.policy,
       g.outcome,
       g.grace_ms,
       g.unmet,
       g.snapshot,
       t.name AS tenant
FROM rac.governance_checks g
JOIN rac.tenants t ON t.id = g.tenant_id
LEFT JOIN rac.authors au ON au.id = g.author_id
WHERE g.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[]);
CREATE OR REPLACE VIEW rac.governance_exceptions WITH (security_barrier) AS
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
       r.resolution AS finding_resolution,
       t.name AS tenant
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
CREATE OR REPLACE VIEW rac.governance_unseen WITH (security_barrier) AS
SELECT g.id AS check_id,
       t.name AS tenant_id,
       g.run_id,
       x.kind,
       x.id AS evidence_id,
       c.domain,
       c.action,
       x.written_at,
       x.error,
       x.written_at <= g.checked_at AS written_before_check,
       t.name AS tenant
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
CREATE OR REPLACE VIEW rac.spans WITH (security_barrier) AS
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
       fa.role_name::text AS completed_by,
       t.name AS tenant
FROM firsts s
JOIN rac.contract_actions cs ON cs.id = s.action_id AND cs.action LIKE 'start\_%'
JOIN rac.tenants t ON t.id = s.tenant_id
LEFT JOIN rac.contract_actions cf ON cf.domain = cs.domain AND cf.action = 'complete_' || substr(cs.action, 7)
LEFT JOIN firsts f ON f.tenant_id = s.tenant_id AND f.run_id = s.run_id AND f.action_id = cf.id
LEFT JOIN rac.authors sa ON sa.id = s.author_id
LEFT JOIN rac.authors fa ON fa.id = f.author_id;

-- sqlc reads a replaced view as a new one: restate the comments it shows.
COMMENT ON VIEW rac.open_findings IS
    'Findings of the violation kinds (missing, failed, drift, invalid, stale) that no resolution has closed.';
COMMENT ON COLUMN rac.open_findings.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
COMMENT ON VIEW rac.run_status IS
    'Latest verdict per run (clean, pending, violated). seq 0: reconciled clean at first sight, no verdict row needed.';
COMMENT ON COLUMN rac.run_status.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
COMMENT ON VIEW rac.action_status IS
    'Live status of every (run, domain, action), expected or acked: acked, late, failed, pending, missing or drift '
    '(rac.action_state as of clock_timestamp(), with the grace of the session setting rac.grace, an interval, default 0). '
    'expected = false marks drift; an expected row with a NULL deadline_at is an invalid contract.';
COMMENT ON COLUMN rac.action_status.acks IS 'Number of acks (success and error) recorded for this (run, domain, action).';
COMMENT ON COLUMN rac.action_status.first_success_at IS 'acked_at of the first ack without error.';
COMMENT ON COLUMN rac.action_status.first_error_at IS 'acked_at of the first ack with an error.';
COMMENT ON COLUMN rac.action_status.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
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
COMMENT ON COLUMN rac.findings_history.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
COMMENT ON VIEW rac.daily_summary IS
    'Per UTC day, tenant, domain and action, the statuses of rac.action_status: expected = acked_on_time + late + missing '
    '+ failed + pending; drift is acked but not expected; invalid (no deadline) overlaps the statuses. '
    'completeness = acked_on_time / expected (NULL when nothing was expected). The day is the deadline''s, the '
    'declaration''s for an expectation without deadline, the first ack''s for drift.';
COMMENT ON COLUMN rac.daily_summary.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
COMMENT ON VIEW rac.run_timeline IS
    'Phases of each run in order, with the login role that recorded each (author), the time since the previous phase, '
    'and for governance_check the checkpoint''s outcome and unmet items.';
COMMENT ON COLUMN rac.run_timeline.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
COMMENT ON VIEW rac.governance_outcomes IS
    'Every governance checkpoint: passed, excepted (finalized with exceptions) or refused, with its unmet items.';
COMMENT ON COLUMN rac.governance_outcomes.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
COMMENT ON VIEW rac.governance_exceptions IS
    'Unmet items runs were finalized with (governance check outcome excepted), each with the reconciler''s finding of '
    'that kind (a pending item: missing) for the same action, if recorded, and whether it is still open.';
COMMENT ON COLUMN rac.governance_exceptions.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
COMMENT ON VIEW rac.governance_unseen IS
    'Expectations and acks of a finalized run that its governance check did not see (not committed in its snapshot), '
    'other than the check''s own transaction''s; written_before_check marks evidence that was in flight.';
COMMENT ON COLUMN rac.governance_unseen.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';
COMMENT ON VIEW rac.spans IS
    'Start/complete pairs (domain actions start_X and complete_X, e.g. logs/start_trace): the first successful ack of '
    'each per run, and duration between them (NULL while not completed).';
COMMENT ON COLUMN rac.spans.tenant IS
    'The tenant''s name, as in rac.tenants.name; tenant_id holds the same name, kept for compatibility.';

-- +goose Down
-- A view cannot lose a column in place: drop the views (rac.daily_summary,
-- which reads rac.action_status, first) and create them as they were, with
-- their comments and grants.
DROP VIEW rac.daily_summary;
DROP VIEW rac.open_findings;
DROP VIEW rac.run_status;
DROP VIEW rac.action_status;
DROP VIEW rac.findings_history;
DROP VIEW rac.run_timeline;
DROP VIEW rac.governance_outcomes;
DROP VIEW rac.governance_exceptions;
DROP VIEW rac.governance_unseen;
DROP VIEW rac.spans;

CREATE VIEW rac.open_findings WITH (security_barrier) AS
SELECT f.id AS finding_id, t.name AS tenant_id, f.run_id, c.domain, c.action, f.kind,
       f.violated_at, f.detected_at, f.detail, f.reconciliation_id
FROM rac.findings f
JOIN rac.tenants t ON t.id = f.tenant_id
JOIN rac.contract_actions c ON c.id = f.action_id
WHERE f.kind <> 'late'
  AND f.tenant_id = ANY ((SELECT rac.tenant_scope())::smallint[])
  AND NOT EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id);

CREATE VIEW rac.run_status WITH (security_barrier) AS
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

CREATE VIEW rac.action_status WITH (security_barrier) AS
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

CREATE VIEW rac.daily_summary AS
SELECT s.day,
       s.tenant_id,
       s.domain,
       s.action,
       count(*) FILTER (WHERE s.expected) AS expected,
       count(*) FILTER (WHERE s.status = 'acked') AS acked_on_time,
       count(*) FILTER (WHERE s.status = 'late') AS late,
       count(*) FILTER (WHERE s.status = 'missing') AS missing,
       count(*) FILTER (WHERE s.status = 'failed') AS failed,
       count(*) FILTER (WHERE s.status = 'pending') AS pending,
       count(*) FILTER (WHERE s.status = 'drift') AS drift,
       count(*) FILTER (WHERE s.expected AND s.deadline_at IS NULL) AS invalid,
       (count(*) FILTER (WHERE s.status = 'acked')::numeric
           / nullif(count(*) FILTER (WHERE s.expected), 0))::numeric AS completeness
FROM (
    SELECT (coalesce(a.deadline_at, a.declared_at, least(a.first_success_at, a.first_error_at))
            AT TIME ZONE 'UTC')::date AS day,
           a.tenant_id, a.domain, a.action, a.expected, a.deadline_at, a.status
    FROM rac.action_status a
) s
GROUP BY s.day, s.tenant_id, s.domain, s.action;

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
COMMENT ON VIEW rac.daily_summary IS
    'Per UTC day, tenant, domain and action, the statuses of rac.action_status: expected = acked_on_time + late + missing '
    '+ failed + pending; drift is acked but not expected; invalid (no deadline) overlaps the statuses. '
    'completeness = acked_on_time / expected (NULL when nothing was expected). The day is the deadline''s, the '
    'declaration''s for an expectation without deadline, the first ack''s for drift.';
COMMENT ON VIEW rac.run_timeline IS
    'Phases of each run in order, with the login role that recorded each (author), the time since the previous phase, '
    'and for governance_check the checkpoint''s outcome and unmet items.';
COMMENT ON VIEW rac.governance_outcomes IS
    'Every governance checkpoint: passed, excepted (finalized with exceptions) or refused, with its unmet items.';
COMMENT ON VIEW rac.governance_exceptions IS
    'Unmet items runs were finalized with (governance check outcome excepted), each with the reconciler''s finding of '
    'that kind (a pending item: missing) for the same action, if recorded, and whether it is still open.';
COMMENT ON VIEW rac.governance_unseen IS
    'Expectations and acks of a finalized run that its governance check did not see (not committed in its snapshot), '
    'other than the check''s own transaction''s; written_before_check marks evidence that was in flight.';
COMMENT ON VIEW rac.spans IS
    'Start/complete pairs (domain actions start_X and complete_X, e.g. logs/start_trace): the first successful ack of '
    'each per run, and duration between them (NULL while not completed).';

GRANT SELECT ON rac.open_findings, rac.run_status, rac.action_status, rac.findings_history, rac.daily_summary,
    rac.run_timeline, rac.governance_outcomes, rac.governance_exceptions, rac.governance_unseen, rac.spans
    TO rac_auditor;
