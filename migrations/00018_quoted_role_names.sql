-- Login roles whose names need quoting (`svc-payments`, `Billing`) can
-- write.
--
-- The `authored` policies (migration 00012) compared an author's role oid
-- with `session_user::text::regrole`. regrole's input reads an SQL
-- identifier: it folds an unquoted name to lower case and refuses one
-- with a hyphen or a space, so for such a role the policy raised `invalid
-- name syntax` (or matched another role) and every direct insert of its
-- expectations, acks and waivers failed. quote_ident makes the name an
-- identifier that reads back as itself. rac.is_session_author, the
-- policies' other branch, looks the role up by name and was right.

-- +goose Up

ALTER POLICY authored ON rac.expectations
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user
                               AND a.role_oid = pg_catalog.quote_ident(session_user)::regrole)
                OR rac.is_session_author(author_id));
ALTER POLICY authored ON rac.acks
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user
                               AND a.role_oid = pg_catalog.quote_ident(session_user)::regrole)
                OR rac.is_session_author(author_id));
ALTER POLICY authored ON rac.finding_resolutions
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user
                               AND a.role_oid = pg_catalog.quote_ident(session_user)::regrole)
                OR rac.is_session_author(author_id));

-- +goose Down

ALTER POLICY authored ON rac.finding_resolutions
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user AND a.role_oid = session_user::text::regrole)
                OR rac.is_session_author(author_id));
ALTER POLICY authored ON rac.acks
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user AND a.role_oid = session_user::text::regrole)
                OR rac.is_session_author(author_id));
ALTER POLICY authored ON rac.expectations
    WITH CHECK (author_id = (SELECT min(a.id) FROM rac.authors a
                             WHERE a.role_name = session_user AND a.role_oid = session_user::text::regrole)
                OR rac.is_session_author(author_id));
