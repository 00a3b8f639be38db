-- Report views: the stable, documented interface for auditors
-- (docs/auditor-guide.md). Every view shows the tenant, domain and action
-- by name. Statuses come from rac.action_state, the one definition of the
-- status table; no view restates its rules.

-- +goose Up

-- The live status of every (run, domain, action) that was expected or
-- acked, as of the database clock when the row is computed. Expectations
-- and acks are grouped together by (run, tenant, action) instead of joined:
-- a filter on run_id (=, IN, ANY, a range) applies to the grouping key, so
-- the planner pushes it into both arms of the UNION ALL and onto the unique
-- indexes that lead with run_id (expectations_run_action_key,
-- acks_idempotency_key); one run costs two index probes however large the
-- ledger is. A group with no expectation is drift.
CREATE VIEW rac.action_status AS
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

COMMENT ON VIEW rac.action_status IS
    'Live status of every (run, domain, action), expected or acked: acked, late, failed, pending, missing or drift '
    '(rac.action_state as of clock_timestamp(), with the grace of the session setting rac.grace, an interval, default 0). '
    'expected = false marks drift; an expected row with a NULL deadline_at is an invalid contract.';
COMMENT ON COLUMN rac.action_status.acks IS 'Number of acks (success and error) recorded for this (run, domain, action).';
COMMENT ON COLUMN rac.action_status.first_success_at IS 'acked_at of the first ack without error.';
COMMENT ON COLUMN rac.action_status.first_error_at IS 'acked_at of the first ack with an error.';

-- Every finding, with its resolution when it has one (at most one: the
-- resolution's finding_id is unique).
CREATE VIEW rac.findings_history AS
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

COMMENT ON VIEW rac.findings_history IS
    'Every finding the reconciler recorded, with its resolution (acked: a later success ack; waived) if any. '
    'open: unresolved and of a violation kind (late is history, never open), as in rac.open_findings.';

-- Per UTC day, tenant, domain and action: counts of rac.action_status.
-- The day is the deadline's; an expectation without deadline (an invalid
-- contract) counts on the day it was declared, and drift on the day of its
-- first ack. (The outer cast of completeness only tells sqlc its type.)
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

COMMENT ON VIEW rac.daily_summary IS
    'Per UTC day, tenant, domain and action, the statuses of rac.action_status: expected = acked_on_time + late + missing '
    '+ failed + pending; drift is acked but not expected; invalid (no deadline) overlaps the statuses. '
    'completeness = acked_on_time / expected (NULL when nothing was expected). The day is the deadline''s, the '
    'declaration''s for an expectation without deadline, the first ack''s for drift.';

-- rac_auditor reads the report views. Roles are cluster-wide and may exist
-- already (migration 00003, or another database of the cluster): create it
-- only when missing, and tolerate a concurrent creator.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'rac_auditor') THEN
        BEGIN
            CREATE ROLE rac_auditor NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created meanwhile by a migration of another database
        END;
    END IF;
END
$$;
-- +goose StatementEnd

GRANT USAGE ON SCHEMA rac TO rac_auditor;
GRANT SELECT ON rac.action_status, rac.findings_history, rac.daily_summary TO rac_auditor;
-- A function called by a view is checked against the querying role, not
-- the view's owner: rac.action_status needs this even if PUBLIC's default
-- EXECUTE is revoked. The function reads nothing; it only compares times.
GRANT EXECUTE ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval)
    TO rac_auditor;

-- +goose Down
-- The views' grants go with them. The role stays (it is cluster-wide). The
-- schema USAGE and function EXECUTE grants are shared with whatever else
-- made rac_auditor an auditor (migration 00003): revoke them only when
-- rac_auditor holds no other privilege on a relation of schema rac.
DROP VIEW rac.daily_summary;
DROP VIEW rac.findings_history;
DROP VIEW rac.action_status;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'rac_auditor')
       AND NOT EXISTS (
           SELECT FROM pg_catalog.pg_class c, aclexplode(c.relacl) p
           WHERE c.relnamespace = 'rac'::regnamespace AND p.grantee = 'rac_auditor'::regrole) THEN
        REVOKE EXECUTE ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval)
            FROM rac_auditor;
        REVOKE USAGE ON SCHEMA rac FROM rac_auditor;
    END IF;
END
$$;
-- +goose StatementEnd
