-- name: ExpectationsInsert :execrows
-- Declares every expectation of one run in one statement when the run has
-- none yet (the common case: one index probe, no per-row check) and
-- returns how many it wrote. 0 means the run was declared before: the
-- caller then uses ExpectationsRedeclare. declared_at and deadline_at come
-- from one reading of the database clock.
INSERT INTO rac.expectations (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, author_id)
SELECT @tenant_id, @run_id, i.action_id, i.deadline_ms,
       c.now, c.now + i.deadline_ms * interval '1 millisecond', sqlc.narg(declared_by),
       coalesce((SELECT min(au.id) FROM rac.authors au
                 WHERE au.role_name = session_user AND au.role_oid = pg_catalog.quote_ident(session_user)::regrole),
                (SELECT rac.author_id()))
FROM (
    -- Set-returning functions in one select list advance in lockstep.
    SELECT unnest(@action_ids::smallint[]) AS action_id, unnest(@deadline_ms::bigint[]) AS deadline_ms
) i,
(SELECT clock_timestamp() AS now) c
WHERE NOT EXISTS (SELECT 1 FROM rac.expectations e WHERE e.run_id = @run_id AND e.tenant_id = @tenant_id)
  -- A role pinned to other domains (rac.domain_roles, privilege expect)
  -- writes nothing here; ExpectationsRedeclare then says which.
  AND (NOT EXISTS (SELECT FROM rac.domain_roles)
       OR cardinality(rac.domain_refusals('expect', @action_ids::smallint[])) = 0)
ON CONFLICT (tenant_id, run_id, action_id) DO NOTHING;

-- name: ExpectationsInsertAs :execrows
-- ExpectationsInsert for a session whose author id the library knows (its
-- per-connection cache of SessionAuthor), without the author lookup.
-- Row-level security still checks the author of a bound writer.
INSERT INTO rac.expectations (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, author_id)
SELECT @tenant_id, @run_id, i.action_id, i.deadline_ms,
       c.now, c.now + i.deadline_ms * interval '1 millisecond', sqlc.narg(declared_by),
       @author_id::integer
FROM (
    -- Set-returning functions in one select list advance in lockstep.
    SELECT unnest(@action_ids::smallint[]) AS action_id, unnest(@deadline_ms::bigint[]) AS deadline_ms
) i,
(SELECT clock_timestamp() AS now) c
WHERE NOT EXISTS (SELECT 1 FROM rac.expectations e WHERE e.run_id = @run_id AND e.tenant_id = @tenant_id)
  -- A role pinned to other domains (rac.domain_roles, privilege expect)
  -- writes nothing here; ExpectationsRedeclare then says which.
  AND (NOT EXISTS (SELECT FROM rac.domain_roles)
       OR cardinality(rac.domain_refusals('expect', @action_ids::smallint[])) = 0)
ON CONFLICT (tenant_id, run_id, action_id) DO NOTHING;

-- name: ExpectationsInsertUnpinned :execrows
-- ExpectationsInsertAs for a superuser session: no domain mapping can pin
-- it, so the insert needs no domain guard.
INSERT INTO rac.expectations (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, author_id)
SELECT @tenant_id, @run_id, i.action_id, i.deadline_ms,
       c.now, c.now + i.deadline_ms * interval '1 millisecond', sqlc.narg(declared_by),
       @author_id::integer
FROM (
    -- Set-returning functions in one select list advance in lockstep.
    SELECT unnest(@action_ids::smallint[]) AS action_id, unnest(@deadline_ms::bigint[]) AS deadline_ms
) i,
(SELECT clock_timestamp() AS now) c
WHERE NOT EXISTS (SELECT 1 FROM rac.expectations e WHERE e.run_id = @run_id AND e.tenant_id = @tenant_id)
ON CONFLICT (tenant_id, run_id, action_id) DO NOTHING;

-- name: ExpectationsRedeclare :one
-- Declares expectations of a run that has some already. An expectation
-- already declared with the same deadline is a no-op; when any of them was
-- declared before with a different deadline, nothing is written and the
-- conflicting action ids are returned, so the batch is all or nothing. The
-- same holds for action ids the session's role may not declare
-- (rac.domain_roles), returned as refused_action_ids.
WITH input AS (
    SELECT unnest(@action_ids::smallint[]) AS action_id,
           unnest(@deadline_ms::bigint[]) AS deadline_ms
),
conflicts AS (
    SELECT coalesce(array_agg(i.action_id ORDER BY i.action_id), '{}')::smallint[] AS action_ids
    FROM input i
    JOIN rac.expectations e
      ON e.tenant_id = @tenant_id AND e.run_id = @run_id AND e.action_id = i.action_id
    WHERE e.deadline_ms IS DISTINCT FROM i.deadline_ms
),
refused AS (
    SELECT rac.domain_refusals('expect', @action_ids::smallint[])::smallint[] AS action_ids
),
clock AS (
    SELECT clock_timestamp() AS now
),
inserted AS (
    INSERT INTO rac.expectations (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by,
                                  author_id)
    SELECT @tenant_id, @run_id, i.action_id, i.deadline_ms,
           clock.now, clock.now + i.deadline_ms * interval '1 millisecond', sqlc.narg(declared_by),
           (SELECT rac.author_id())
    FROM input i, clock, conflicts, refused
    WHERE cardinality(conflicts.action_ids) = 0 AND cardinality(refused.action_ids) = 0
    ON CONFLICT (tenant_id, run_id, action_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::int AS inserted,
       conflicts.action_ids AS conflicting_action_ids,
       refused.action_ids AS refused_action_ids
FROM conflicts, refused;
