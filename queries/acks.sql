-- Empty strings stand for "none" and are stored as NULL, so an ack without
-- an idempotency key is never deduplicated (NULL keys are distinct).

-- name: AckInsert :execrows
-- Writes one ack; 0 rows means the idempotency key was used before.
-- ON CONFLICT names no target: acks_idempotency_key is rac.acks' only
-- unique constraint (a migration adding another must name the target
-- here again). Without a target the insert needs no SELECT privilege, so
-- row-level security checks a bound writer's row once (the insert policy)
-- instead of twice (insert and select policies): about 6% of a bound
-- writer's ack throughput (docs/performance.md).
INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata)
VALUES (@tenant_id, @run_id, @action_id,
        NULLIF(@result_id::text, ''), NULLIF(@idempotency_key::text, ''),
        NULLIF(@error::text, ''), NULLIF(@metadata::text, '')::jsonb)
ON CONFLICT DO NOTHING;

-- name: AcksInsertMany :many
-- Writes a batch of acks in one statement and returns the ones written
-- (repeats of an idempotency key are skipped).
-- Set-returning functions in one select list advance in lockstep.
WITH input AS (
    SELECT unnest(@run_ids::uuid[]) AS run_id,
           unnest(@action_ids::smallint[]) AS action_id,
           unnest(@result_ids::text[]) AS result_id,
           unnest(@idempotency_keys::text[]) AS idempotency_key,
           unnest(@errors::text[]) AS error,
           unnest(@metadata::text[]) AS metadata
)
INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata)
SELECT @tenant_id, u.run_id, u.action_id,
       NULLIF(u.result_id, ''), NULLIF(u.idempotency_key, ''),
       NULLIF(u.error, ''), NULLIF(u.metadata, '')::jsonb
FROM input u
ON CONFLICT (tenant_id, run_id, action_id, idempotency_key) DO NOTHING
RETURNING action_id, (error IS NOT NULL)::bool AS failed;
