-- The reconciler's statements. A pass: PassStart reads where the previous
-- finished passes left off and the new horizon; PassCandidates pages
-- through the runs to reconcile; each batch of them is reconciled by one
-- ReconcileBatch statement in its own transaction.

-- name: PassStart :one
-- The watermark (max over finished passes: their windows are contiguous
-- from the start of time) and the new horizon and clock. Transactions below
-- the horizon have all finished, so their rows are final. A pass that saw
-- only some tenants (sees_whole_ledger false) would certify the others'
-- runs unseen.
SELECT coalesce(max(r.horizon_to), 0)::bigint AS horizon_from,
       coalesce(max(r.deadline_to), to_timestamp(0))::timestamptz AS deadline_from,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon_to,
       clock_timestamp()::timestamptz AS as_of,
       rac.sees_whole_ledger()::bool AS sees_whole_ledger
FROM rac.reconciliations r
WHERE r.final;

-- name: ReconcileLock :exec
-- Serialises the reconciler's reads of candidates and its batches across
-- every reconciler of the database, until the transaction ends. Take it as
-- the first statement of a READ COMMITTED transaction: each later
-- statement's snapshot then holds every batch committed before, so no
-- judgment is ever made on older evidence than one already recorded (see
-- reconciler/doc.go, "Confluence").
SELECT pg_advisory_xact_lock(5927209463450566476);

-- name: PassCandidates :many
-- The runs a pass must reconcile, in (run, tenant) order after the given
-- key, at most page_size of them. A row is final once its tx_id lies below
-- a pass's horizon; the tx window [horizon_from, horizon_to) holds the rows
-- that became final since the previous pass, the deadline window
-- (deadline_from, deadline_to] the deadlines (grace removed) that fell.
-- A run is a candidate when
--   1. a row of the tx window belongs to an action that is not acked on
--      time: an expectation without an on-time success ack, drift, or a
--      failure report or late ack with no on-time success beside it;
--   2. the tx window touched it and it has a finding or a verdict already
--      (every run with a finding has a verdict row): whatever an earlier
--      pass recorded is judged again against the rows that became final,
--      however the earlier pass found the run;
--   3. an expectation's deadline fell in the deadline window and it has no
--      ack at all (an ack not final yet brings its run back through arm 1
--      or 2 once it is);
--   4. a resolution (a waiver) or a rejudge request of the tx window names it.
-- Every other run the windows touched is declared and acked on time and
-- was never recorded: it is clean and costs no write.
--
-- Arm 1 pairs the window's expectations and acks by a full join, so a
-- window costs what it holds, not what the ledger holds: only a row whose
-- partner lies outside the window (or has none) is checked against the
-- indexes. An empty window's arms are removed from the plan by their
-- constant-false condition, so an idle pass scans nothing.
WITH window_expectations AS NOT MATERIALIZED (
    SELECT e.run_id, e.tenant_id, e.action_id, e.deadline_at
    FROM rac.expectations e
    WHERE sqlc.arg(horizon_from)::bigint < sqlc.arg(horizon_to)::bigint
      AND e.tx_id >= sqlc.arg(horizon_from)::bigint AND e.tx_id < sqlc.arg(horizon_to)::bigint
      AND (e.run_id, e.tenant_id) > (sqlc.arg(after_run)::uuid, sqlc.arg(after_tenant)::smallint)
),
window_acks AS NOT MATERIALIZED (
    SELECT a.run_id, a.tenant_id, a.action_id, a.acked_at, a.error
    FROM rac.acks a
    WHERE sqlc.arg(horizon_from)::bigint < sqlc.arg(horizon_to)::bigint
      AND a.tx_id >= sqlc.arg(horizon_from)::bigint AND a.tx_id < sqlc.arg(horizon_to)::bigint
      AND (a.run_id, a.tenant_id) > (sqlc.arg(after_run)::uuid, sqlc.arg(after_tenant)::smallint)
),
-- The window's rows that are not an on-time success paired with its
-- expectation: an expectation without a window ack, an ack without a
-- window expectation, or a failure report or late ack beside its
-- expectation. Two halves of the run ids (random run ids, as uuid.New
-- makes, split evenly; ordered ones still join correctly, in one half),
-- joined at once by a Parallel Append: PostgreSQL 15 runs one hash full
-- join in one process.
unpaired AS MATERIALIZED (
    SELECT e.run_id AS e_run, e.tenant_id AS e_tenant, e.action_id AS e_action, e.deadline_at,
           a.run_id AS a_run, a.tenant_id AS a_tenant, a.action_id AS a_action, a.acked_at, a.error
    FROM (SELECT * FROM window_expectations WHERE run_id < '80000000-0000-0000-0000-000000000000'::uuid) e
    FULL JOIN (SELECT * FROM window_acks WHERE run_id < '80000000-0000-0000-0000-000000000000'::uuid) a
      ON a.run_id = e.run_id AND a.tenant_id = e.tenant_id AND a.action_id = e.action_id
    WHERE e.run_id IS NULL OR a.run_id IS NULL OR a.error IS NOT NULL
       OR a.acked_at > e.deadline_at + sqlc.arg(grace_ms)::bigint * interval '1 millisecond'
       OR e.deadline_at IS NULL
    UNION ALL
    SELECT e.run_id AS e_run, e.tenant_id AS e_tenant, e.action_id AS e_action, e.deadline_at,
           a.run_id AS a_run, a.tenant_id AS a_tenant, a.action_id AS a_action, a.acked_at, a.error
    FROM (SELECT * FROM window_expectations WHERE run_id >= '80000000-0000-0000-0000-000000000000'::uuid) e
    FULL JOIN (SELECT * FROM window_acks WHERE run_id >= '80000000-0000-0000-0000-000000000000'::uuid) a
      ON a.run_id = e.run_id AND a.tenant_id = e.tenant_id AND a.action_id = e.action_id
    WHERE e.run_id IS NULL OR a.run_id IS NULL OR a.error IS NOT NULL
       OR a.acked_at > e.deadline_at + sqlc.arg(grace_ms)::bigint * interval '1 millisecond'
       OR e.deadline_at IS NULL
)
SELECT x.run_id, x.tenant_id
FROM (
    SELECT coalesce(u.e_run, u.a_run) AS run_id, coalesce(u.e_tenant, u.a_tenant) AS tenant_id
    FROM unpaired u
    WHERE CASE
              -- an ack whose expectation is outside the window, or missing
              WHEN u.e_run IS NULL THEN NOT EXISTS (
                  SELECT 1 FROM rac.expectations x
                  WHERE x.run_id = u.a_run AND x.tenant_id = u.a_tenant AND x.action_id = u.a_action
                    AND ((u.error IS NULL AND u.acked_at <= x.deadline_at + sqlc.arg(grace_ms)::bigint * interval '1 millisecond')
                         OR EXISTS (
                             SELECT 1 FROM rac.acks s
                             WHERE s.run_id = x.run_id AND s.tenant_id = x.tenant_id AND s.action_id = x.action_id
                               AND s.error IS NULL
                               AND s.acked_at <= x.deadline_at + sqlc.arg(grace_ms)::bigint * interval '1 millisecond')))
              -- an expectation without a window ack, or with a failure
              -- report or a late ack: is there an on-time success anywhere?
              ELSE NOT EXISTS (
                  SELECT 1 FROM rac.acks s
                  WHERE s.run_id = u.e_run AND s.tenant_id = u.e_tenant AND s.action_id = u.e_action
                    AND s.error IS NULL
                    AND s.acked_at <= u.deadline_at + sqlc.arg(grace_ms)::bigint * interval '1 millisecond')
          END
    UNION ALL
    -- Arm 2: a run is recorded once it has a verdict row (ReconcileBatch
    -- writes one for every run it records a finding for). A semi-join the
    -- planner drives from the window's rows into the verdicts' index (a
    -- small window) or from the verdicts (a backlog). The runs the window
    -- touched are those of its expectations and of its acks without a
    -- window expectation (the full join's unpaired acks): an ack beside its
    -- window expectation names a run already probed, so half the window's
    -- rows need no probe.
    SELECT w.run_id, w.tenant_id
    FROM (
        SELECT e.run_id, e.tenant_id FROM window_expectations e
        UNION ALL
        SELECT u.a_run, u.a_tenant FROM unpaired u WHERE u.e_run IS NULL
    ) w
    WHERE EXISTS (SELECT 1 FROM rac.run_verdicts v WHERE v.run_id = w.run_id AND v.tenant_id = w.tenant_id)
    UNION ALL
    SELECT e.run_id, e.tenant_id
    FROM rac.expectations e
    WHERE sqlc.arg(deadline_from)::timestamptz < sqlc.arg(deadline_to)::timestamptz
      AND e.deadline_at > sqlc.arg(deadline_from)::timestamptz AND e.deadline_at <= sqlc.arg(deadline_to)::timestamptz
      -- rows of the tx window were checked by arm 1
      AND NOT (e.tx_id >= sqlc.arg(horizon_from)::bigint AND e.tx_id < sqlc.arg(horizon_to)::bigint)
      AND (e.run_id, e.tenant_id) > (sqlc.arg(after_run)::uuid, sqlc.arg(after_tenant)::smallint)
      AND NOT EXISTS (
          SELECT 1 FROM rac.acks a
          WHERE a.run_id = e.run_id AND a.tenant_id = e.tenant_id AND a.action_id = e.action_id)
    UNION ALL
    SELECT f.run_id, f.tenant_id
    FROM rac.finding_resolutions r
    JOIN rac.findings f ON f.id = r.finding_id
    WHERE sqlc.arg(horizon_from)::bigint < sqlc.arg(horizon_to)::bigint
      AND r.tx_id >= sqlc.arg(horizon_from)::bigint AND r.tx_id < sqlc.arg(horizon_to)::bigint
      AND r.resolution = 'waived'
      AND (f.run_id, f.tenant_id) > (sqlc.arg(after_run)::uuid, sqlc.arg(after_tenant)::smallint)
    UNION ALL
    SELECT q.run_id, q.tenant_id
    FROM rac.rejudge_requests q
    WHERE sqlc.arg(horizon_from)::bigint < sqlc.arg(horizon_to)::bigint
      AND q.tx_id >= sqlc.arg(horizon_from)::bigint AND q.tx_id < sqlc.arg(horizon_to)::bigint
      AND (q.run_id, q.tenant_id) > (sqlc.arg(after_run)::uuid, sqlc.arg(after_tenant)::smallint)
) x
GROUP BY x.run_id, x.tenant_id
ORDER BY x.run_id, x.tenant_id
LIMIT sqlc.arg(page_size)::int;

-- name: CandidateSettings :exec
-- For the candidate statement's read-only transaction only: no JIT (its
-- compile time, ~150 ms, exceeds what it saves on a window's rows), random
-- index probes priced as the cached, hot ledger indexes they are, so a
-- window of a few thousand runs is checked by unique-index probes rather
-- than by hashing a whole table, and parallel workers only where they pay
-- for their start (a backlog; not a window or an idle pass, where starting
-- them doubled the statement's time).
SELECT set_config('jit', 'off', true),
       set_config('random_page_cost', '1.1', true),
       set_config('parallel_setup_cost', '20000', true);

-- name: ReconcileBatch :one
-- Reconciles a batch of runs as of as_of in one statement: computes the
-- status of every (run, domain, action) of the batch (rac.action_state),
-- records the findings they call for, closes the findings the evidence no
-- longer supports (each with the rule and the evidence row that closes it),
-- records verdict changes, and records this batch in rac.reconciliations.
-- Every insert is ON CONFLICT DO NOTHING against the uniqueness that makes
-- a finding, resolution or verdict change exist once. Run it under
-- ReconcileLock in a READ COMMITTED transaction: its snapshot then holds
-- every batch recorded before it. The batch's runs are contiguous in run_id
-- order and first_run..last_run bounds them, so a dense batch (a backlog)
-- is read as index ranges and a sparse one (a small window) by index probes.
--
-- Closing rules (the status table of rac.action_state decides when a
-- finding stops holding; the evidence's own timestamps decide how):
--   missing, stale  closed by the first ack of any kind; retracted when it
--                   was written by the deadline (+ grace), else acked (a
--                   success) or superseded (a failure report: failed is
--                   recorded, as the status says);
--   failed          closed by the first success ack; retracted when it was
--                   written before the failure, else acked;
--   late            retracted by a success ack written on time;
--   drift           closed by its expectation; retracted when declared by
--                   the time of the ack, else declared (the ack preceded its
--                   declaration).
-- resolved_at is the evidence's time, or the violation's for a retraction,
-- so it is never before violated_at.
WITH batch AS MATERIALIZED (
    SELECT DISTINCT unnest(@tenant_ids::smallint[]) AS tenant_id, unnest(@run_ids::uuid[]) AS run_id
),
rid AS (
    SELECT nextval(pg_get_serial_sequence('rac.reconciliations', 'id')) AS id
),
params AS (
    SELECT sqlc.arg(as_of)::timestamptz AS as_of,
           sqlc.arg(grace_ms)::bigint * interval '1 millisecond' AS grace
),
-- Every (run, action) of the batch, expected or acked, in one grouping of
-- the batch's expectations and acks: its expectation (if any) and its first
-- success and first error ack. An action acked but never expected is drift.
evidence_rows AS (
    SELECT e.tenant_id, e.run_id, e.action_id, e.id AS expectation_id, e.declared_at, e.deadline_at,
           NULL::timestamptz AS success_at, NULL::timestamptz AS error_at
    FROM rac.expectations e
    WHERE e.run_id BETWEEN sqlc.arg(first_run)::uuid AND sqlc.arg(last_run)::uuid
      AND (e.run_id, e.tenant_id) IN (SELECT b.run_id, b.tenant_id FROM batch b)
    UNION ALL
    SELECT a.tenant_id, a.run_id, a.action_id, NULL, NULL, NULL,
           CASE WHEN a.error IS NULL THEN a.acked_at END, CASE WHEN a.error IS NOT NULL THEN a.acked_at END
    FROM rac.acks a
    WHERE a.run_id BETWEEN sqlc.arg(first_run)::uuid AND sqlc.arg(last_run)::uuid
      AND (a.run_id, a.tenant_id) IN (SELECT b.run_id, b.tenant_id FROM batch b)
),
status AS MATERIALIZED (
    SELECT k.tenant_id, k.run_id, k.action_id, k.expectation_id, k.declared_at, k.deadline_at,
           k.first_success_at, k.first_error_at,
           rac.action_state(k.expectation_id IS NOT NULL, k.deadline_at, k.first_success_at, k.first_error_at,
                            p.as_of, p.grace) AS status
    FROM (
        -- (run, tenant, action) is unique in rac.expectations, so max()
        -- picks the one expectation's columns, or NULL for drift.
        SELECT r.tenant_id, r.run_id, r.action_id, max(r.expectation_id) AS expectation_id,
               max(r.declared_at) AS declared_at, max(r.deadline_at) AS deadline_at,
               min(r.success_at) AS first_success_at, min(r.error_at) AS first_error_at
        FROM evidence_rows r
        GROUP BY r.tenant_id, r.run_id, r.action_id
    ) k
    CROSS JOIN params p
),
existing AS MATERIALIZED (
    SELECT f.id, f.tenant_id, f.run_id, f.action_id, f.kind, f.violated_at,
           EXISTS (SELECT 1 FROM rac.finding_resolutions r WHERE r.finding_id = f.id) AS resolved
    FROM rac.findings f
    WHERE f.run_id BETWEEN sqlc.arg(first_run)::uuid AND sqlc.arg(last_run)::uuid
      AND (f.run_id, f.tenant_id) IN (SELECT b.run_id, b.tenant_id FROM batch b)
),
-- The findings the statuses call for, with when each became true, less
-- those already recorded (a closed finding never holds again: the evidence
-- that closed it stays).
wanted AS MATERIALIZED (
    SELECT w.*
    FROM (
        SELECT s.tenant_id, s.run_id, s.action_id, 'missing'::text AS kind, s.deadline_at + p.grace AS violated_at,
               s.expectation_id
        FROM status s, params p WHERE s.status = 'missing'
        UNION ALL
        SELECT s.tenant_id, s.run_id, s.action_id, 'stale', s.deadline_at + p.grace, s.expectation_id
        FROM status s, params p WHERE s.status = 'missing' AND s.action_id = sqlc.arg(finalize_action_id)::smallint
        UNION ALL
        SELECT s.tenant_id, s.run_id, s.action_id, 'failed', s.first_error_at, s.expectation_id
        FROM status s WHERE s.status = 'failed'
        UNION ALL
        SELECT s.tenant_id, s.run_id, s.action_id, 'late', s.first_success_at, s.expectation_id
        FROM status s WHERE s.status = 'late'
        UNION ALL
        SELECT s.tenant_id, s.run_id, s.action_id, 'drift', least(s.first_success_at, s.first_error_at), NULL
        FROM status s WHERE s.status = 'drift'
        UNION ALL
        SELECT s.tenant_id, s.run_id, s.action_id, 'invalid', s.declared_at, s.expectation_id
        FROM status s WHERE s.expectation_id IS NOT NULL AND s.deadline_at IS NULL
    ) w
    WHERE NOT EXISTS (
        SELECT 1 FROM existing e
        WHERE e.tenant_id = w.tenant_id AND e.run_id = w.run_id AND e.action_id = w.action_id AND e.kind = w.kind
    )
),
new_findings AS (
    -- detail names the finding's evidence: the expectation it concerns
    -- and, for failed, late and drift, the ack that made it true (its
    -- error text for failed), looked up only for those few.
    INSERT INTO rac.findings (reconciliation_id, tenant_id, run_id, action_id, kind, violated_at, detail)
    SELECT rid.id, w.tenant_id, w.run_id, w.action_id, w.kind, w.violated_at,
           jsonb_strip_nulls(jsonb_build_object('expectation_id', w.expectation_id, 'ack_id', ev.ack_id,
                                                'error', ev.error))
    FROM wanted w
    CROSS JOIN rid
    LEFT JOIN LATERAL (
        SELECT a.id AS ack_id, a.error
        FROM rac.acks a
        WHERE a.run_id = w.run_id AND a.tenant_id = w.tenant_id AND a.action_id = w.action_id
          AND a.acked_at = w.violated_at
          AND (w.kind = 'drift' OR (w.kind = 'failed') = (a.error IS NOT NULL))
          -- inside the subquery, so a missing finding probes no index
          AND w.kind IN ('failed', 'late', 'drift')
        ORDER BY a.id
        LIMIT 1
    ) ev ON true
    ON CONFLICT ON CONSTRAINT findings_once DO NOTHING
    RETURNING tenant_id, run_id, action_id, kind
),
-- Open findings the statuses no longer support.
closing AS MATERIALIZED (
    SELECT e.id, e.tenant_id, e.run_id, e.action_id, e.kind, e.violated_at, s.declared_at
    FROM existing e
    JOIN status s ON s.tenant_id = e.tenant_id AND s.run_id = e.run_id AND s.action_id = e.action_id
    WHERE NOT e.resolved
      AND ((e.kind IN ('missing', 'stale') AND s.status IN ('acked', 'late', 'failed'))
        OR (e.kind = 'failed' AND s.status IN ('acked', 'late'))
        OR (e.kind = 'late' AND s.status = 'acked')
        OR (e.kind = 'drift' AND s.expectation_id IS NOT NULL))
),
-- The evidence row that closes each: an ack (looked up only for these
-- few) or, for drift, the expectation.
evidence AS MATERIALIZED (
    SELECT c.id, c.tenant_id, c.kind, c.violated_at, ev.ack_id, ev.evidence_at, ev.failure
    FROM closing c
    CROSS JOIN LATERAL (
        SELECT a.id AS ack_id, a.acked_at AS evidence_at, a.error IS NOT NULL AS failure
        FROM rac.acks a
        WHERE a.run_id = c.run_id AND a.tenant_id = c.tenant_id AND a.action_id = c.action_id
          AND (c.kind IN ('missing', 'stale') OR a.error IS NULL)
        ORDER BY a.acked_at, a.error IS NOT NULL, a.id
        LIMIT 1
    ) ev
    WHERE c.kind <> 'drift'
    UNION ALL
    SELECT c.id, c.tenant_id, c.kind, c.violated_at, NULL, c.declared_at, false
    FROM closing c
    WHERE c.kind = 'drift'
),
new_resolutions AS (
    INSERT INTO rac.finding_resolutions (finding_id, reconciliation_id, tenant_id, resolution, resolved_at, ack_id,
                                         author_id)
    SELECT v.id, rid.id, v.tenant_id,
           CASE WHEN v.evidence_at <= v.violated_at THEN 'retracted'
                WHEN v.kind = 'drift' THEN 'declared'
                WHEN v.failure THEN 'superseded'
                ELSE 'acked' END,
           greatest(v.evidence_at, v.violated_at), v.ack_id, (SELECT rac.author_id())
    FROM evidence v, rid
    ON CONFLICT (finding_id) DO NOTHING
    RETURNING finding_id, resolution
),
-- Per run: does a violation stay open after this statement, is anything
-- still pending?
flags AS (
    SELECT x.tenant_id, x.run_id, bool_or(x.violated) AS violated, bool_or(NOT x.violated) AS pending
    FROM (
        SELECT e.tenant_id, e.run_id, true AS violated
        FROM existing e
        WHERE e.kind <> 'late' AND NOT e.resolved
          AND NOT EXISTS (SELECT 1 FROM evidence v WHERE v.id = e.id)
        UNION ALL
        SELECT w.tenant_id, w.run_id, true FROM wanted w WHERE w.kind <> 'late'
        UNION ALL
        SELECT s.tenant_id, s.run_id, false FROM status s WHERE s.status = 'pending'
    ) x
    GROUP BY x.tenant_id, x.run_id
),
verdicts AS MATERIALIZED (
    SELECT b.tenant_id, b.run_id,
           CASE WHEN f.violated THEN 'violated' WHEN f.pending THEN 'pending' ELSE 'clean' END AS verdict
    FROM batch b
    LEFT JOIN flags f ON f.tenant_id = b.tenant_id AND f.run_id = b.run_id
),
latest AS (
    SELECT DISTINCT ON (v.run_id, v.tenant_id) v.tenant_id, v.run_id, v.seq, v.verdict
    FROM rac.run_verdicts v
    WHERE v.run_id BETWEEN sqlc.arg(first_run)::uuid AND sqlc.arg(last_run)::uuid
      AND (v.run_id, v.tenant_id) IN (SELECT b.run_id, b.tenant_id FROM batch b)
    ORDER BY v.run_id, v.tenant_id, v.seq DESC
),
new_verdicts AS (
    INSERT INTO rac.run_verdicts (reconciliation_id, tenant_id, run_id, seq, verdict)
    SELECT rid.id, v.tenant_id, v.run_id, coalesce(l.seq, 0) + 1, v.verdict
    FROM verdicts v
    CROSS JOIN rid
    LEFT JOIN latest l ON l.tenant_id = v.tenant_id AND l.run_id = v.run_id
    WHERE v.verdict <> coalesce(l.verdict, 'clean')
       -- the first finding of a run clean at first sight (a late ack) gives
       -- it a verdict row: a run with a finding is then found by its
       -- verdicts alone (PassCandidates, arm 2)
       OR (l.run_id IS NULL
           AND (EXISTS (SELECT 1 FROM wanted w WHERE w.tenant_id = v.tenant_id AND w.run_id = v.run_id)
                OR EXISTS (SELECT 1 FROM existing e WHERE e.tenant_id = v.tenant_id AND e.run_id = v.run_id)))
    ON CONFLICT ON CONSTRAINT run_verdicts_seq DO NOTHING
    RETURNING 1
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
       coalesce((SELECT array_agg(r.resolution) FROM new_resolutions r), '{}')::text[] AS resolution_kinds,
       -- Only when asked (ReconcileRun): every status of the batch.
       coalesce((SELECT array_agg(s.action_id ORDER BY s.action_id) FROM status s WHERE sqlc.arg(return_statuses)::bool), '{}')::smallint[] AS status_action_ids,
       coalesce((SELECT array_agg(s.status ORDER BY s.action_id) FROM status s WHERE sqlc.arg(return_statuses)::bool), '{}')::text[] AS statuses,
       coalesce((SELECT v.verdict FROM verdicts v LIMIT 1), '')::text AS first_verdict
FROM pass;

-- name: BatchSettings :exec
-- For the batch's transaction only: plan it with its real parameters (its
-- plan depends on how dense its runs are) rather than a cached generic
-- plan, and give its sorts and hashes room (a batch handles tens of
-- thousands of rows).
SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
       set_config('work_mem', '64MB', true),
       set_config('jit', 'off', true);

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
