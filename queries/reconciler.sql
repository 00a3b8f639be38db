-- The reconciler's statements. A pass: PassStart reads where the previous
-- finished passes left off and the new horizon; CandidatesEnqueue numbers
-- the runs to look at; each batch of them is reconciled by one
-- ReconcileBatch statement in its own transaction; CandidatesDequeue
-- clears the work list.

-- name: PassStart :one
-- The watermark (max over finished passes: their windows are contiguous
-- from the start of time) and the new horizon and clock. Transactions below
-- the horizon have all finished, so their rows are final.
SELECT coalesce(max(r.horizon_to), 0)::bigint AS horizon_from,
       coalesce(max(r.deadline_to), to_timestamp(0))::timestamptz AS deadline_from,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon_to,
       clock_timestamp()::timestamptz AS as_of
FROM rac.reconciliations r
WHERE r.final;

-- name: CandidatesEnqueue :execrows
-- Numbers, in (tenant, run) order, every run touched by a row whose tx_id
-- lies in [horizon_from, horizon_to) or whose deadline fell in
-- (deadline_from, deadline_to]. An empty window costs no scan: its
-- constant-false condition removes the scan from the plan.
INSERT INTO rac.reconciliation_queue (pass_id, seq, tenant_id, run_id)
SELECT @pass_id::uuid, (row_number() OVER (ORDER BY c.tenant_id, c.run_id))::int, c.tenant_id, c.run_id
FROM (
    SELECT e.tenant_id, e.run_id FROM rac.expectations e
    WHERE @horizon_from::bigint < @horizon_to::bigint
      AND e.tx_id >= @horizon_from::bigint AND e.tx_id < @horizon_to::bigint
    UNION
    SELECT a.tenant_id, a.run_id FROM rac.acks a
    WHERE @horizon_from::bigint < @horizon_to::bigint
      AND a.tx_id >= @horizon_from::bigint AND a.tx_id < @horizon_to::bigint
    UNION
    SELECT e.tenant_id, e.run_id FROM rac.expectations e
    WHERE @deadline_from::timestamptz < @deadline_to::timestamptz
      AND e.deadline_at > @deadline_from::timestamptz AND e.deadline_at <= @deadline_to::timestamptz
) c;

-- name: CandidatesBatch :many
SELECT tenant_id, run_id
FROM rac.reconciliation_queue
WHERE pass_id = @pass_id AND seq > @after_seq::int AND seq <= @last_seq::int
ORDER BY seq;

-- name: CandidatesDequeue :execrows
-- Removes this pass's work list and any left by passes that died long ago.
DELETE FROM rac.reconciliation_queue
WHERE pass_id = @pass_id OR enqueued_at < clock_timestamp() - interval '1 day';

-- name: ReconcileBatch :one
-- Reconciles a batch of runs as of @as_of in one statement: computes every
-- (run, domain, action) status with rac.run_action_status, records the
-- findings they call for, resolves findings a success ack made untrue,
-- records verdict changes, and records this batch in rac.reconciliations.
-- Every insert is ON CONFLICT DO NOTHING against the uniqueness that makes
-- a finding, resolution or verdict change exist once; run it in a
-- REPEATABLE READ transaction so a concurrent reconciler's rows surface as
-- a serialization failure to retry instead of going unseen.
WITH batch AS (
    SELECT DISTINCT unnest(@tenant_ids::smallint[]) AS tenant_id, unnest(@run_ids::uuid[]) AS run_id
),
rid AS (
    SELECT nextval(pg_get_serial_sequence('rac.reconciliations', 'id')) AS id
),
params AS (
    SELECT sqlc.arg(as_of)::timestamptz AS as_of,
           sqlc.arg(grace_ms)::bigint * interval '1 millisecond' AS grace
),
-- Facts per expected (run, action): the first success and first error ack,
-- each found through the acks' unique index.
expected AS MATERIALIZED (
    SELECT e.tenant_id, e.run_id, e.action_id, e.id AS expectation_id, e.declared_at, e.deadline_at,
           s.id AS first_success_id, s.acked_at AS first_success_at, f.acked_at AS first_error_at
    FROM batch
    JOIN rac.expectations e ON e.tenant_id = batch.tenant_id AND e.run_id = batch.run_id
    LEFT JOIN LATERAL (
        SELECT a.id, a.acked_at FROM rac.acks a
        WHERE a.tenant_id = e.tenant_id AND a.run_id = e.run_id AND a.action_id = e.action_id AND a.error IS NULL
        ORDER BY a.acked_at, a.id LIMIT 1
    ) s ON true
    LEFT JOIN LATERAL (
        SELECT a.acked_at FROM rac.acks a
        WHERE s.acked_at IS NULL
          AND a.tenant_id = e.tenant_id AND a.run_id = e.run_id AND a.action_id = e.action_id AND a.error IS NOT NULL
        ORDER BY a.acked_at, a.id LIMIT 1
    ) f ON true
),
-- Acked but never expected: the anti-join acked - expected.
unexpected AS MATERIALIZED (
    SELECT a.tenant_id, a.run_id, a.action_id,
           min(a.acked_at) FILTER (WHERE a.error IS NULL) AS first_success_at,
           min(a.acked_at) FILTER (WHERE a.error IS NOT NULL) AS first_error_at
    FROM batch
    JOIN rac.acks a ON a.tenant_id = batch.tenant_id AND a.run_id = batch.run_id
    WHERE NOT EXISTS (
        SELECT 1 FROM rac.expectations e
        WHERE e.tenant_id = a.tenant_id AND e.run_id = a.run_id AND e.action_id = a.action_id
    )
    GROUP BY a.tenant_id, a.run_id, a.action_id
),
status AS MATERIALIZED (
    SELECT x.tenant_id, x.run_id, x.action_id, x.expectation_id, x.declared_at, x.deadline_at,
           x.first_success_id, x.first_success_at, x.first_error_at,
           rac.action_state(true, x.deadline_at, x.first_success_at, x.first_error_at, p.as_of, p.grace) AS status
    FROM expected x, params p
    UNION ALL
    SELECT u.tenant_id, u.run_id, u.action_id, NULL, NULL, NULL, NULL, u.first_success_at, u.first_error_at, 'drift'
    FROM unexpected u
),
existing AS MATERIALIZED (
    SELECT f.id, f.tenant_id, f.run_id, f.action_id, f.kind,
           EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id) AS resolved
    FROM batch
    JOIN rac.findings f ON f.tenant_id = batch.tenant_id AND f.run_id = batch.run_id
),
-- The findings the statuses call for, with when each became true.
wanted AS MATERIALIZED (
    SELECT s.tenant_id, s.run_id, s.action_id, 'missing'::text AS kind, s.deadline_at + p.grace AS violated_at
    FROM status s, params p WHERE s.status = 'missing'
    UNION ALL
    SELECT s.tenant_id, s.run_id, s.action_id, 'stale', s.deadline_at + p.grace
    FROM status s, params p WHERE s.status = 'missing' AND s.action_id = @finalize_action_id::smallint
    UNION ALL
    SELECT s.tenant_id, s.run_id, s.action_id, 'failed', s.first_error_at
    FROM status s WHERE s.status = 'failed'
    UNION ALL
    SELECT s.tenant_id, s.run_id, s.action_id, 'late', s.first_success_at
    FROM status s WHERE s.status = 'late'
    UNION ALL
    SELECT s.tenant_id, s.run_id, s.action_id, 'drift', least(s.first_success_at, s.first_error_at)
    FROM status s WHERE s.status = 'drift'
    UNION ALL
    SELECT s.tenant_id, s.run_id, s.action_id, 'invalid', s.declared_at
    FROM status s WHERE s.expectation_id IS NOT NULL AND s.deadline_at IS NULL
),
new_findings AS (
    INSERT INTO rac.findings (reconciliation_id, tenant_id, run_id, action_id, kind, violated_at)
    SELECT rid.id, w.tenant_id, w.run_id, w.action_id, w.kind, w.violated_at
    FROM wanted w, rid
    WHERE NOT EXISTS (
        SELECT 1 FROM existing e
        WHERE e.tenant_id = w.tenant_id AND e.run_id = w.run_id AND e.action_id = w.action_id AND e.kind = w.kind
    )
    ON CONFLICT ON CONSTRAINT findings_once DO NOTHING
    RETURNING tenant_id, run_id, action_id, kind
),
resolvable AS MATERIALIZED (
    SELECT e.id, e.tenant_id, e.run_id, s.first_success_at, s.first_success_id
    FROM existing e
    JOIN status s ON s.tenant_id = e.tenant_id AND s.run_id = e.run_id AND s.action_id = e.action_id
    WHERE NOT e.resolved
      AND e.kind IN ('missing', 'failed', 'stale')
      AND s.expectation_id IS NOT NULL
      AND s.first_success_at IS NOT NULL
),
new_resolutions AS (
    INSERT INTO rac.finding_resolutions (finding_id, reconciliation_id, tenant_id, resolution, resolved_at, ack_id)
    SELECT r.id, rid.id, r.tenant_id, 'acked', r.first_success_at, r.first_success_id
    FROM resolvable r, rid
    ON CONFLICT (finding_id) DO NOTHING
    RETURNING finding_id
),
verdicts AS (
    SELECT batch.tenant_id, batch.run_id,
           CASE
               WHEN EXISTS (
                   SELECT 1 FROM existing e
                   WHERE e.tenant_id = batch.tenant_id AND e.run_id = batch.run_id
                     AND e.kind <> 'late' AND NOT e.resolved
                     AND NOT EXISTS (SELECT 1 FROM resolvable r WHERE r.id = e.id)
               ) OR EXISTS (
                   SELECT 1 FROM wanted w
                   WHERE w.tenant_id = batch.tenant_id AND w.run_id = batch.run_id AND w.kind <> 'late'
                     AND NOT EXISTS (
                         SELECT 1 FROM existing e
                         WHERE e.tenant_id = w.tenant_id AND e.run_id = w.run_id AND e.action_id = w.action_id AND e.kind = w.kind
                     )
               ) THEN 'violated'
               WHEN EXISTS (
                   SELECT 1 FROM status s
                   WHERE s.tenant_id = batch.tenant_id AND s.run_id = batch.run_id AND s.status = 'pending'
               ) THEN 'pending'
               ELSE 'clean'
           END AS verdict
    FROM batch
),
latest AS (
    SELECT DISTINCT ON (v.tenant_id, v.run_id) v.tenant_id, v.run_id, v.seq, v.verdict
    FROM batch
    JOIN rac.run_verdicts v ON v.tenant_id = batch.tenant_id AND v.run_id = batch.run_id
    ORDER BY v.tenant_id, v.run_id, v.seq DESC
),
new_verdicts AS (
    INSERT INTO rac.run_verdicts (reconciliation_id, tenant_id, run_id, seq, verdict)
    SELECT rid.id, v.tenant_id, v.run_id, coalesce(l.seq, 0) + 1, v.verdict
    FROM verdicts v
    CROSS JOIN rid
    LEFT JOIN latest l ON l.tenant_id = v.tenant_id AND l.run_id = v.run_id
    WHERE v.verdict <> coalesce(l.verdict, 'clean')
    ON CONFLICT ON CONSTRAINT run_verdicts_seq DO NOTHING
    RETURNING verdict
),
pass AS (
    INSERT INTO rac.reconciliations (
        id, pass_id, batch, final, scope, horizon_from, horizon_to, deadline_from, deadline_to, as_of, grace_ms,
        candidate_runs, findings_recorded, resolutions_recorded, verdicts_recorded, started_at, reconciler)
    OVERRIDING SYSTEM VALUE
    SELECT rid.id, @pass_id::uuid, @batch::int, @final::bool, @scope::text,
           @horizon_from::bigint, @horizon_to::bigint, @deadline_from::timestamptz, @deadline_to::timestamptz,
           (SELECT as_of FROM params), sqlc.arg(grace_ms)::bigint,
           (SELECT count(*) FROM batch), (SELECT count(*) FROM new_findings),
           (SELECT count(*) FROM new_resolutions), (SELECT count(*) FROM new_verdicts),
           @started_at::timestamptz, @reconciler::text
    FROM rid
    RETURNING id, candidate_runs, findings_recorded, resolutions_recorded, verdicts_recorded
)
SELECT pass.id AS reconciliation_id, pass.candidate_runs, pass.findings_recorded,
       pass.resolutions_recorded, pass.verdicts_recorded,
       coalesce((SELECT array_agg(f.action_id ORDER BY f.action_id) FROM new_findings f), '{}')::smallint[] AS finding_action_ids,
       coalesce((SELECT array_agg(f.kind ORDER BY f.action_id) FROM new_findings f), '{}')::text[] AS finding_kinds,
       coalesce((SELECT array_agg(v.verdict) FROM new_verdicts v), '{}')::text[] AS new_verdicts,
       -- Only when asked (ReconcileRun): every status of the batch.
       coalesce((SELECT array_agg(s.action_id ORDER BY s.action_id) FROM status s WHERE @return_statuses::bool), '{}')::smallint[] AS status_action_ids,
       coalesce((SELECT array_agg(s.status ORDER BY s.action_id) FROM status s WHERE @return_statuses::bool), '{}')::text[] AS statuses,
       coalesce((SELECT v.verdict FROM verdicts v LIMIT 1), '')::text AS first_verdict
FROM pass;

-- name: HorizonHolder :many
-- The oldest transaction that holds an xid: it pins the horizon, so rows
-- written after it are not reconciled by their tx_id until it ends.
SELECT a.pid, coalesce(a.state, '')::text AS state, coalesce(a.application_name, '')::text AS application_name,
       coalesce(extract(epoch FROM clock_timestamp() - a.xact_start), 0)::float8 AS age_seconds
FROM pg_catalog.pg_stat_activity a
WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
ORDER BY age(a.backend_xid) DESC
LIMIT 1;

-- name: OpenFindingsByKind :many
SELECT f.kind, count(*)::int AS findings
FROM rac.findings f
WHERE f.kind <> 'late'
  AND NOT EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id)
GROUP BY f.kind
ORDER BY f.kind;

-- name: RunOpenFindings :many
-- Open findings of one run, for ReconcileRun's result.
SELECT f.action_id, f.kind
FROM rac.findings f
WHERE f.tenant_id = @tenant_id AND f.run_id = @run_id
  AND f.kind <> 'late'
  AND NOT EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id)
ORDER BY f.action_id, f.kind;
