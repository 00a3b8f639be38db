-- Run orchestration: the governance checkpoint and run phases (migration
-- 00013). Both call the SQL functions, which validate in SQL, with strict
-- false: a refusal comes back as a row, never as an error, so the caller's
-- transaction stays usable.

-- name: GovernanceCheck :many
-- Judges and records the checkpoint of one run; the finalize_run ack is
-- left to the library's Ack (finalize false). One row per unmet item, or
-- one row with NULL domain when nothing is unmet; outcome out_of_phase or
-- finalized writes nothing.
SELECT g.outcome::text AS outcome, coalesce(g.check_id, 0)::bigint AS check_id, coalesce(g.domain, '')::text AS domain,
       coalesce(g.action, '')::text AS action, coalesce(g.status, '')::text AS status
FROM rac.governance_check(sqlc.arg(run_id)::uuid, sqlc.arg(policy)::text, sqlc.arg(grace)::interval, false,
                          sqlc.arg(tenant)::text, false) AS g (outcome, check_id, domain, action, status);

-- name: PhaseAdvance :one
-- Appends the run's next phase; refusal is NULL when written.
SELECT coalesce(p.phase_id, 0)::bigint AS phase_id, coalesce(p.latest, '')::text AS latest,
       coalesce(p.refusal, '')::text AS refusal
FROM rac.advance_phase(sqlc.arg(run_id)::uuid, sqlc.arg(phase)::text, sqlc.arg(note)::text, sqlc.arg(tenant)::text, false) AS p (phase_id, latest, refusal);
