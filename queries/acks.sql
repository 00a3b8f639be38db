-- Empty strings stand for "none" and are stored as NULL, so an ack without
-- an idempotency key is never deduplicated (NULL keys are distinct).

-- name: AckInsert :execrows
-- Writes one ack; 0 rows means the idempotency key was used before, or the
-- session's role may not ack this action's domain (rac.domain_roles):
-- the caller then asks AckRefusals which. Held back by the WHERE clause,
-- a refused ack raises nothing, so the caller's transaction stays usable;
-- the row-level security policies that check the same for any direct
-- writer then never fail. The author is the session's login role: looked
-- up in the statement's snapshot, registered on its first write.
-- ON CONFLICT names no target: acks_idempotency_key is rac.acks' only
-- unique constraint (a migration adding another must name the target
-- here again). Without a target the insert needs no SELECT privilege, so
-- row-level security checks a bound writer's row once (the insert policy)
-- instead of twice (insert and select policies): about 6% of a bound
-- writer's ack throughput (docs/performance.md).
INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata, author_id)
SELECT @tenant_id, @run_id, @action_id::smallint,
       NULLIF(@result_id::text, ''), NULLIF(@idempotency_key::text, ''),
       NULLIF(@error::text, ''), NULLIF(@metadata::text, '')::jsonb,
       coalesce((SELECT min(au.id) FROM rac.authors au
                 WHERE au.role_name = session_user AND au.role_oid = pg_catalog.quote_ident(session_user)::regrole),
                (SELECT rac.author_id()))
WHERE NOT EXISTS (SELECT FROM rac.domain_roles)
   OR @action_id::smallint = ANY (coalesce(rac.domain_scope('ack'), ARRAY[@action_id::smallint]))
ON CONFLICT DO NOTHING;

-- name: AckInsertAs :execrows
-- AckInsert for a session whose author id the library knows (its
-- per-connection cache of SessionAuthor): the same row and the same
-- WHERE clause, without the author lookup. Row-level security still
-- checks the author of a bound writer.
INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata, author_id)
SELECT @tenant_id, @run_id, @action_id::smallint,
       NULLIF(@result_id::text, ''), NULLIF(@idempotency_key::text, ''),
       NULLIF(@error::text, ''), NULLIF(@metadata::text, '')::jsonb,
       @author_id::integer
WHERE NOT EXISTS (SELECT FROM rac.domain_roles)
   OR @action_id::smallint = ANY (coalesce(rac.domain_scope('ack'), ARRAY[@action_id::smallint]))
ON CONFLICT DO NOTHING;

-- name: SessionAuthor :one
-- The author id of the session's login role for the library's
-- per-connection cache (no row: none yet): the smallest the snapshot
-- shows among those registered before this transaction began, so never
-- one this transaction registered itself (which a rollback would take
-- back); and whether the role is a superuser, whom no domain mapping pins
-- (rac.domain_scope is NULL for it; a role made NOSUPERUSER while a
-- connection lives keeps the flag in that connection's cache).
SELECT au.id AS author_id, coalesce(r.rolsuper, false)::boolean AS superuser
FROM rac.authors au
JOIN pg_catalog.pg_roles r ON r.oid = au.role_oid
WHERE au.role_name = session_user AND au.role_oid = pg_catalog.quote_ident(session_user)::regrole
  AND au.first_seen < now()
ORDER BY au.id
LIMIT 1;

-- name: AckInsertUnpinned :execrows
-- AckInsertAs for a superuser session: no domain mapping can pin it, so
-- the insert needs no domain guard.
INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata, author_id)
VALUES (@tenant_id, @run_id, @action_id::smallint,
        NULLIF(@result_id::text, ''), NULLIF(@idempotency_key::text, ''),
        NULLIF(@error::text, ''), NULLIF(@metadata::text, '')::jsonb,
        @author_id::integer)
ON CONFLICT DO NOTHING;

-- name: AckRefusals :one
-- The action ids among action_ids that the session's role may not ack;
-- empty when it may ack them all.
SELECT rac.domain_refusals('ack', @action_ids::smallint[])::smallint[] AS refused_action_ids;

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
INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata, author_id)
SELECT @tenant_id, u.run_id, u.action_id,
       NULLIF(u.result_id, ''), NULLIF(u.idempotency_key, ''),
       NULLIF(u.error, ''), NULLIF(u.metadata, '')::jsonb,
       coalesce((SELECT min(au.id) FROM rac.authors au
                 WHERE au.role_name = session_user AND au.role_oid = pg_catalog.quote_ident(session_user)::regrole),
                (SELECT rac.author_id()))
FROM input u
-- All or nothing: a batch with any action the role may not ack writes
-- nothing (see AckInsert).
WHERE NOT EXISTS (SELECT FROM rac.domain_roles)
   OR cardinality(rac.domain_refusals('ack', @action_ids::smallint[])) = 0
ON CONFLICT (tenant_id, run_id, action_id, idempotency_key) DO NOTHING
RETURNING action_id, (error IS NOT NULL)::bool AS failed;
