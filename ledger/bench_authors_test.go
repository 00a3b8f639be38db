package ledger_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// authorsMigration is the migration that records authors and adds
// per-domain authorization.
const authorsMigration = 12

// ackBeforeAuthors is ledger.Ack's single-row insert as it was before
// authors and domains (migration 11).
const ackBeforeAuthors = `INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata)
VALUES ($1, $2, $3, NULLIF($4::text, ''), NULLIF($5::text, ''), NULLIF($6::text, ''), NULLIF($7::text, '')::jsonb)
ON CONFLICT DO NOTHING`

// ackWithAuthors is ledger.Ack's single-row insert today (queries/acks.sql,
// AckInsert): the author looked up, the domain checked.
const ackWithAuthors = `INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, error, metadata, author_id)
SELECT $1, $2, $3::smallint, NULLIF($4::text, ''), NULLIF($5::text, ''), NULLIF($6::text, ''), NULLIF($7::text, '')::jsonb,
       coalesce((SELECT min(au.id) FROM rac.authors au
                 WHERE au.role_name = session_user AND au.role_oid = pg_catalog.quote_ident(session_user)::regrole),
                (SELECT rac.author_id()))
WHERE NOT EXISTS (SELECT FROM rac.domain_roles)
   OR $3::smallint = ANY (coalesce(rac.domain_scope('ack'), ARRAY[$3::smallint]))
ON CONFLICT DO NOTHING`

// writerConns returns benchClients connections to db as a new login in
// rac_writer that may also write public.incidents (created here).
func writerConns(b *testing.B, db pgtest.Database, incidents bool) (string, []*pgxpool.Conn) {
	b.Helper()
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(admin.Close)
	u, name := pgtest.LoginRole(b, db, "rac_writer")
	stmts := []string{
		`GRANT INSERT ON public.incidents TO ` + pgx.Identifier{name}.Sanitize(),
		`GRANT USAGE ON SEQUENCE public.incidents_id_seq TO ` + pgx.Identifier{name}.Sanitize(),
	}
	if incidents {
		stmts = append([]string{`CREATE TABLE public.incidents (id bigserial PRIMARY KEY, run_id uuid NOT NULL, note text NOT NULL)`}, stmts...)
	}
	for _, sql := range stmts {
		if _, err := admin.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = benchClients
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	conns := make([]*pgxpool.Conn, benchClients)
	for i := range conns {
		if conns[i], err = pool.Acquire(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.Release()
		}
		pool.Close()
	})
	return name, conns
}

// BenchmarkAckAuthorization measures what authorship and per-domain
// authorization cost a service's ack: BEGIN; INSERT INTO public.incidents;
// ack; COMMIT, from 16 clients, each variant under its own login in
// rac_writer (bound by row-level security), interleaved:
//
//   - A: a database at migration 11, the library's insert of then.
//   - B: today's insert (the author recorded), nothing mapped in
//     rac.domain_roles (a single-team ledger).
//   - C: today's insert under a login pinned to its domain.
//   - D: ledger.Ack today, unpinned: B plus the library's own work.
//
// B/A_ratio and C/A_ratio are the cost of authorship and authorization
// (docs/performance.md); D/B_ratio the library's share.
func BenchmarkAckAuthorization(b *testing.B) {
	ctx := context.Background()
	before := pgtest.NewEmptyDatabase(b)
	beforePool, err := pgxpool.New(ctx, before.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(beforePool.Close)
	m, err := migrate.New(beforePool, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	if _, err := m.UpTo(ctx, authorsMigration-1); err != nil {
		b.Fatal(err)
	}
	_, beforeConns := writerConns(b, before, true)

	now := pgtest.NewDatabase(b)
	_, freeConns := writerConns(b, now, true)
	pinned, pinnedConns := writerConns(b, now, false)
	nowPool, err := pgxpool.New(ctx, now.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nowPool.Close)
	if _, err := nowPool.Exec(ctx, `INSERT INTO rac.domain_roles (role_name, domain) VALUES ($1, 'incidents')`, pinned); err != nil {
		b.Fatal(err)
	}
	createIncident := actionID(b, nowPool, ledger.Incidents, ledger.CreateIncident)
	free := benchLedger("")

	raw := func(sql string, tenant int16) func(ctx context.Context, tx pgx.Tx, seq int64) error {
		return func(ctx context.Context, tx pgx.Tx, seq int64) error {
			runID, resultID, key := benchAckValues(seq)
			if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql, tenant, runID, createIncident, resultID, key, "", "")
			return err
		}
	}
	_, libConns := writerConns(b, now, false)
	res := runInterleaved(b, nil, []benchVariant{
		{name: "A migration 11", conns: beforeConns, work: raw(ackBeforeAuthors, 1)},
		{name: "B authors", conns: freeConns, work: raw(ackWithAuthors, 1)},
		{name: "C authors, pinned domain", conns: pinnedConns, work: raw(ackWithAuthors, 1)},
		{name: "D ledger.Ack", conns: libConns, work: ledgerAckWork(free)},
	})
	expectRowCount(b, beforePool, "rac.acks", b.N+benchWarmup)
	expectRowCount(b, nowPool, "rac.acks", 3*(b.N+benchWarmup))

	a, bb, c, d := res[0], res[1], res[2], res[3]
	b.ReportMetric(a.txPerSec(), "A_m11_tx/s")
	b.ReportMetric(bb.txPerSec(), "B_authors_tx/s")
	b.ReportMetric(c.txPerSec(), "C_pinned_tx/s")
	b.ReportMetric(d.txPerSec(), "D_ledger_tx/s")
	b.ReportMetric(bb.txPerSec()/a.txPerSec(), "B/A_ratio")
	b.ReportMetric(c.txPerSec()/a.txPerSec(), "C/A_ratio")
	b.ReportMetric(d.txPerSec()/bb.txPerSec(), "D/B_ratio")
	reportSpread(b, "B/A", bb, a)
	reportSpread(b, "C/A", c, a)
}
