package migrations_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

const (
	codeAckForbidden    = "RC112"
	codeExpectForbidden = "RC113"
)

// mapDomain pins role (a login or a group) to domain for privilege; an
// empty domain maps every domain (NULL).
func mapDomain(t *testing.T, b bundle, role, domain, privilege string) {
	t.Helper()
	var d *string
	if domain != "" {
		d = &domain
	}
	_, err := b.pool.Exec(b.ctx, `INSERT INTO rac.domain_roles (role_name, domain, privilege) VALUES ($1, $2, $3)`,
		role, d, privilege)
	require.NoError(t, err)
}

// inTx runs fn in a transaction of pool that it then commits; the commit
// must succeed, so fn's refusals must have left the transaction usable.
func inTx(t *testing.T, b bundle, pool *pgxpool.Pool, fn func(tx pgx.Tx)) {
	t.Helper()
	tx, err := pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	fn(tx)
	var one int
	require.NoError(t, tx.QueryRow(b.ctx, `SELECT 1`).Scan(&one), "the transaction is still usable")
	require.NoError(t, tx.Commit(b.ctx))
}

// A service pinned to its domain acks only that domain, through the SQL
// functions, the Go library and a raw INSERT; the orchestrator declares
// every domain's expectations but acks only its own; roles with no mapping
// and superusers keep every domain; a mapping on a group binds its members.
func TestDomainAuthorization(t *testing.T) {
	t.Parallel()
	b := setup(t)
	on := true
	l := ledger.New(ledger.Options{Enabled: &on})
	incidents, incidentsName := loginRole(t, b, "rac_writer")
	orchestrator, orchestratorName := loginRole(t, b, "rac_writer")
	unmapped, _ := loginRole(t, b, "rac_writer")
	mapDomain(t, b, incidentsName, "incidents", "ack")
	mapDomain(t, b, orchestratorName, "orchestrator", "ack")
	mapDomain(t, b, orchestratorName, "", "expect")

	run := uuid.New()
	inTx(t, b, orchestrator, func(tx pgx.Tx) {
		require.NoError(t, l.Expect(b.ctx, tx, run, ledger.StandardRun(time.Hour)...), "the orchestrator declares every domain")
	})

	t.Run("the SQL functions refuse another domain with RC112 and RC113", func(t *testing.T) {
		require.True(t, written(t, incidents, `SELECT rac.ack($1, 'incidents', 'create_incident', 'inc-1')`, run))
		_, err := incidents.Exec(b.ctx, `SELECT rac.ack($1, 'policies', 'evaluate_policy')`, run)
		require.Equal(t, codeAckForbidden, pgError(t, err).Code)
		_, err = incidents.Exec(b.ctx, `SELECT rac.expect($1, 'incidents', 'create_incident', interval '1 hour')`, uuid.New())
		require.Equal(t, codeExpectForbidden, pgError(t, err).Code, "pinned for ack only: it may not declare")
		_, err = orchestrator.Exec(b.ctx, `SELECT rac.ack($1, 'incidents', 'create_incident')`, run)
		require.Equal(t, codeAckForbidden, pgError(t, err).Code)
		require.True(t, written(t, orchestrator, `SELECT rac.expect($1, 'policies', 'evaluate_policy', interval '1 hour')`, uuid.New()))
	})

	t.Run("the library returns ErrForbidden and writes nothing", func(t *testing.T) {
		before := count(t, b.pool, `SELECT count(*) FROM rac.acks WHERE run_id = $1`, run)
		inTx(t, b, incidents, func(tx pgx.Tx) {
			err := l.Ack(b.ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Policies, Action: ledger.EvaluatePolicy})
			var ferr *ledger.ForbiddenError
			require.ErrorAs(t, err, &ferr)
			require.True(t, errors.Is(err, ledger.ErrForbidden))
			require.Equal(t, []string{"policies/evaluate_policy"}, ferr.Actions)

			// A batch with one forbidden ack writes none of it.
			err = l.Ack(b.ctx, tx,
				ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc-2"},
				ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace})
			require.ErrorIs(t, err, ledger.ErrForbidden)

			err = l.Expect(b.ctx, tx, uuid.New(), ledger.StandardRun(time.Hour)...)
			require.ErrorAs(t, err, &ferr)
			require.Equal(t, "expectation", ferr.Item)
			require.Len(t, ferr.Actions, 5)

			// An idempotent repeat is still no error, and the own domain works.
			key := ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, IdempotencyKey: "k"}
			require.NoError(t, l.Ack(b.ctx, tx, key))
			require.NoError(t, l.Ack(b.ctx, tx, key))
		})
		require.Equal(t, before+1, count(t, b.pool, `SELECT count(*) FROM rac.acks WHERE run_id = $1`, run))
	})

	t.Run("a raw insert into another domain violates row-level security", func(t *testing.T) {
		_, err := incidents.Exec(b.ctx, `
			INSERT INTO rac.acks (run_id, action_id)
			SELECT $1, id FROM rac.contract_actions WHERE domain = 'policies'`, run)
		require.Equal(t, codeNoPrivilege, pgError(t, err).Code)
		_, err = incidents.Exec(b.ctx, `
			INSERT INTO rac.acks (run_id, action_id)
			SELECT $1, id FROM rac.contract_actions WHERE domain = 'incidents'`, run)
		require.NoError(t, err)
	})

	t.Run("unmapped roles and superusers keep every domain", func(t *testing.T) {
		require.True(t, written(t, unmapped, `SELECT rac.ack($1, 'policies', 'evaluate_policy')`, run))
		inTx(t, b, unmapped, func(tx pgx.Tx) {
			require.NoError(t, l.Ack(b.ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace}))
		})
		mapDomain(t, b, "postgres", "incidents", "ack")
		require.True(t, written(t, b.pool, `SELECT rac.ack($1, 'logs', 'complete_trace')`, run))
	})

	t.Run("a mapping on a group binds its members", func(t *testing.T) {
		_, err := b.pool.Exec(b.ctx, `CREATE ROLE policies_team NOLOGIN`)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = b.pool.Exec(b.ctx, `DROP ROLE IF EXISTS policies_team`) })
		u, _ := pgtest.LoginRole(t, b.db, "rac_writer", "policies_team")
		member := openPool(t, u)
		mapDomain(t, b, "policies_team", "policies", "ack")
		require.True(t, written(t, member, `SELECT rac.ack($1, 'policies', 'evaluate_policy')`, run))
		_, err = member.Exec(b.ctx, `SELECT rac.ack($1, 'incidents', 'create_incident')`, run)
		require.Equal(t, codeAckForbidden, pgError(t, err).Code)
	})
}

// Every expectation, ack and resolution records the login role that wrote
// it, whatever it claims, through every path; a writer cannot write in
// another author's name; SET ROLE does not change the author; a role's
// first writes in two open transactions do not wait for each other.
func TestAuthors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	on := true
	l := ledger.New(ledger.Options{Enabled: &on, DeclaredBy: "claimed-orchestrator"})
	svc, svcName := loginRole(t, b, "rac_writer")
	sqlSvc, sqlSvcName := loginRole(t, b, "rac_writer")
	waiver, waiverName := loginRole(t, b, "rac_waiver")
	recPool, recName := loginRole(t, b, "rac_reconciler")

	authorOf := func(table string, id int64) string {
		t.Helper()
		var name *string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT au.role_name::text FROM `+table+` x
			LEFT JOIN rac.authors au ON au.id = x.author_id WHERE x.id = $1`, id).Scan(&name))
		require.NotNil(t, name, "%s %d has an author", table, id)
		return *name
	}

	// A new role's first write, in a transaction left open, does not hold
	// up its next one.
	run := uuid.New()
	open, err := svc.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = open.Rollback(b.ctx) }()
	require.NoError(t, l.Expect(b.ctx, open, run, ledger.StandardRun(time.Millisecond)...))
	inTx(t, b, svc, func(tx pgx.Tx) {
		require.NoError(t, l.Ack(b.ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident}))
	})
	require.NoError(t, open.Commit(b.ctx))
	inTx(t, b, sqlSvc, func(tx pgx.Tx) {
		_, err := tx.Exec(b.ctx, `SELECT rac.ack($1, 'policies', 'evaluate_policy', NULL, 'engine down')`, run)
		require.NoError(t, err)
	})

	evidence := func(kind string) map[string]string {
		rows, err := b.pool.Query(b.ctx, `SELECT domain || '/' || action, author FROM rac.evidence
			WHERE run_id = $1 AND kind = $2`, run, kind)
		require.NoError(t, err)
		out := map[string]string{}
		for rows.Next() {
			var k, a string
			require.NoError(t, rows.Scan(&k, &a))
			out[k] = a
		}
		require.NoError(t, rows.Err())
		return out
	}
	require.Equal(t, map[string]string{"incidents/create_incident": svcName, "policies/evaluate_policy": sqlSvcName},
		evidence("ack"))
	require.Len(t, evidence("expectation"), 5)
	for _, a := range evidence("expectation") {
		require.Equal(t, svcName, a, "the login, not the claimed declared_by")
	}
	require.Equal(t, 5, count(t, b.pool,
		`SELECT count(*) FROM rac.evidence WHERE run_id = $1 AND claimed_by = 'claimed-orchestrator'`, run))

	t.Run("a writer cannot write in another author's name", func(t *testing.T) {
		other := count(t, b.pool, `SELECT min(id) FROM rac.authors WHERE role_name = $1`, sqlSvcName)
		_, err := svc.Exec(b.ctx, `INSERT INTO rac.acks (run_id, action_id, author_id) VALUES ($1, 1, $2)`, run, other)
		require.Equal(t, codeNoPrivilege, pgError(t, err).Code)
		_, err = svc.Exec(b.ctx, `INSERT INTO rac.acks (run_id, action_id, author_id) VALUES ($1, 1, NULL)`, run)
		require.Equal(t, codeNoPrivilege, pgError(t, err).Code)
		// Left out, the column default names the writer.
		var id int64
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT max(id) FROM rac.acks`).Scan(&id))
		_, err = svc.Exec(b.ctx, `INSERT INTO rac.acks (run_id, action_id) VALUES ($1, 1)`, run)
		require.NoError(t, err)
		var last int64
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT max(id) FROM rac.acks`).Scan(&last))
		require.Greater(t, last, id)
		require.Equal(t, svcName, authorOf("rac.acks", last))
	})

	t.Run("SET ROLE does not change the author", func(t *testing.T) {
		_, err := b.pool.Exec(b.ctx, `GRANT rac_waiver TO `+quoteIdent(svcName))
		require.NoError(t, err)
		var id int64
		inTx(t, b, svc, func(tx pgx.Tx) {
			_, err := tx.Exec(b.ctx, `SET LOCAL ROLE rac_writer`)
			require.NoError(t, err)
			_, err = tx.Exec(b.ctx, `SELECT rac.ack($1, 'logs', 'start_trace')`, run)
			require.NoError(t, err)
		})
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT max(id) FROM rac.acks WHERE run_id = $1`, run).Scan(&id))
		require.Equal(t, svcName, authorOf("rac.acks", id))
	})

	t.Run("the reconciler's resolutions and a waiver name their logins", func(t *testing.T) {
		pgtest.WaitFinal(t, b.pool)
		rec, err := reconciler.New(recPool, reconciler.Options{Name: recName})
		require.NoError(t, err)
		_, err = rec.RunOnce(b.ctx)
		require.NoError(t, err)
		// The failure of evaluate_policy is open; a late success closes it.
		var failed int64
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT id FROM rac.findings WHERE run_id = $1 AND kind = 'missing' ORDER BY id LIMIT 1`, run).Scan(&failed))
		var waived int64
		require.NoError(t, waiver.QueryRow(b.ctx, `SELECT rac.waive($1, 'known outage', 'claimed-alice')`, failed).Scan(&waived))
		require.Equal(t, waiverName, authorOf("rac.finding_resolutions", waived))
		var actor, resAuthor string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT actor, resolution_author FROM rac.findings_history WHERE finding_id = $1`,
			failed).Scan(&actor, &resAuthor))
		require.Equal(t, [2]string{"claimed-alice", waiverName}, [2]string{actor, resAuthor})

		require.True(t, written(t, svc, `SELECT rac.ack($1, 'orchestrator', 'finalize_run')`, run))
		pgtest.WaitFinal(t, b.pool)
		_, err = rec.RunOnce(b.ctx)
		require.NoError(t, err)
		require.Positive(t, count(t, b.pool, `
			SELECT count(*) FROM rac.finding_resolutions r JOIN rac.findings f ON f.id = r.finding_id
			JOIN rac.authors au ON au.id = r.author_id
			WHERE f.run_id = $1 AND r.resolution <> 'waived' AND au.role_name = $2`, run, recName))
		require.Zero(t, count(t, b.pool, `
			SELECT count(*) FROM rac.finding_resolutions r JOIN rac.findings f ON f.id = r.finding_id
			WHERE f.run_id = $1 AND r.author_id IS NULL`, run))
	})
}

// A finding names its evidence in detail: the expectation it concerns and,
// for failed, late and drift, the ack that made it true, with a failure's
// error text.
func TestFindingsCarryTheirEvidence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := uuid.New()
	_, err := b.pool.Exec(b.ctx, `
		SELECT rac.expect($1, 'incidents', 'create_incident', interval '1 hour'),
		       rac.expect($1, 'orchestrator', 'finalize_run', interval '1 millisecond'),
		       rac.ack($1, 'incidents', 'create_incident', NULL, 'disk full'),
		       rac.ack($1, 'policies', 'evaluate_policy', 'p-1')`, run)
	require.NoError(t, err)
	pgtest.WaitFinal(t, b.pool)
	rec, err := reconciler.New(b.pool, reconciler.Options{Name: "evidence"})
	require.NoError(t, err)
	_, err = rec.RunOnce(b.ctx)
	require.NoError(t, err)

	detail := func(kind string) map[string]any {
		t.Helper()
		var d map[string]any
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT detail FROM rac.findings WHERE run_id = $1 AND kind = $2`,
			run, kind).Scan(&d))
		return d
	}
	ackOf := func(domain, action string) float64 {
		return float64(count(t, b.pool, `SELECT a.id FROM rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id
			WHERE a.run_id = $1 AND c.domain = $2 AND c.action = $3`, run, domain, action))
	}
	expOf := func(domain, action string) float64 {
		return float64(count(t, b.pool, `SELECT e.id FROM rac.expectations e JOIN rac.contract_actions c ON c.id = e.action_id
			WHERE e.run_id = $1 AND c.domain = $2 AND c.action = $3`, run, domain, action))
	}
	require.Equal(t, map[string]any{"expectation_id": expOf("incidents", "create_incident"),
		"ack_id": ackOf("incidents", "create_incident"), "error": "disk full"}, detail("failed"))
	require.Equal(t, map[string]any{"ack_id": ackOf("policies", "evaluate_policy")}, detail("drift"))
	require.Equal(t, map[string]any{"expectation_id": expOf("orchestrator", "finalize_run")}, detail("missing"))
}
