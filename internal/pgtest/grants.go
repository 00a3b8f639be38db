package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Grants lists every privilege on schema rac and on its relations and
// functions, one "kind object grantee=privilege" line each in byte order,
// for tests that check a down migration restores the grants its up
// migration changed. Owners' default privileges are made explicit, so that
// a grant followed by its revoke compares equal to neither, and an object
// with no privilege at all is still listed, as "kind object ".
func Grants(tb testing.TB, pool *pgxpool.Pool) []string {
	tb.Helper()
	rows, err := pool.Query(context.Background(), `
		WITH objects (kind, name, acl) AS (
		    SELECT 'schema', n.nspname::text, coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))
		    FROM pg_namespace n WHERE n.nspname = 'rac'
		    UNION ALL
		    SELECT 'relation', c.oid::regclass::text,
		           coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))
		    FROM pg_class c WHERE c.relnamespace = 'rac'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
		    UNION ALL
		    SELECT 'function', p.oid::regprocedure::text, coalesce(p.proacl, acldefault('f'::"char", p.proowner))
		    FROM pg_proc p WHERE p.pronamespace = 'rac'::regnamespace
		)
		SELECT o.kind || ' ' || o.name || ' ' || coalesce(g.entry, '')
		FROM objects o
		LEFT JOIN LATERAL (
		    SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END || '=' || a.privilege_type
		    FROM aclexplode(o.acl) a
		) g (entry) ON true
		ORDER BY (o.kind || ' ' || o.name || ' ' || coalesce(g.entry, '')) COLLATE "C"`)
	if err != nil {
		tb.Fatalf("pgtest: list grants: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("pgtest: list grants: %v", err)
	}
	return out
}
