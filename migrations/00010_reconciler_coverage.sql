-- Reconciler coverage: what the finished passes have judged, so a reader
-- (rac report, an auditor, an alert) can tell "nothing is open" from "no
-- pass has looked". One row, scoped to the caller's tenants.

-- +goose Up
CREATE VIEW rac.reconciler_coverage WITH (security_barrier) AS
WITH scope AS (
    SELECT rac.tenant_scope() AS tenants
),
last_pass AS (
    SELECT r.id, r.finished_at, r.as_of, r.horizon_to, r.grace_ms, r.reconciler
    FROM rac.reconciliations r
    WHERE r.final
    ORDER BY r.finished_at DESC, r.id DESC
    LIMIT 1
),
watermark AS (
    SELECT max(r.horizon_to) AS horizon, max(r.deadline_to) AS deadlines_to
    FROM rac.reconciliations r
    WHERE r.final
)
SELECT ARRAY(SELECT t.name FROM rac.tenants t
             WHERE t.id = ANY ((SELECT s.tenants FROM scope s)::smallint[]) ORDER BY t.name)::text[] AS tenants,
       (SELECT l.id FROM last_pass l) AS last_pass_id,
       (SELECT l.finished_at FROM last_pass l) AS last_pass_finished_at,
       (SELECT l.as_of FROM last_pass l) AS last_pass_as_of,
       (SELECT l.reconciler FROM last_pass l) AS last_pass_reconciler,
       w.horizon,
       w.deadlines_to AS deadlines_judged_to,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS current_horizon,
       clock_timestamp() - (SELECT l.as_of FROM last_pass l) AS lag,
       (SELECT count(DISTINCT (e.tenant_id, e.run_id))
        FROM rac.expectations e
        WHERE e.tenant_id = ANY ((SELECT s.tenants FROM scope s)::smallint[])
          AND e.deadline_at IS NOT NULL
          AND e.deadline_at > coalesce(w.deadlines_to, '-infinity')
          AND e.deadline_at + coalesce((SELECT l.grace_ms FROM last_pass l), 0) * interval '1 millisecond'
              <= clock_timestamp())::bigint AS overdue_unjudged_runs
FROM watermark w;

COMMENT ON VIEW rac.reconciler_coverage IS
    'What the finished reconciliation passes cover, for the caller''s tenants: the last finished pass (id, finish time, '
    'as_of, reconciler), the watermark horizon and the deadlines judged so far, the lag behind the clock, and '
    'overdue_unjudged_runs: runs with a deadline (+ the last pass''s grace) passed since the last judged deadline, which '
    'no finished pass has judged yet. last_pass_id NULL: no pass has finished.';
COMMENT ON COLUMN rac.reconciler_coverage.tenants IS 'Names of the tenants this session sees (rac.tenant_scope()).';
COMMENT ON COLUMN rac.reconciler_coverage.horizon IS
    'Rows with tx_id below it are final and judged; current_horizon is where the next pass would reach.';

GRANT SELECT ON rac.reconciler_coverage TO rac_auditor;

-- +goose Down
DROP VIEW rac.reconciler_coverage;
