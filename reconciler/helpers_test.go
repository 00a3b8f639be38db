package reconciler_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

type bundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
	l    *ledger.Ledger
	rec  *reconciler.Reconciler
	reg  *prometheus.Registry
}

func setup(t *testing.T, opts ...func(*reconciler.Options)) bundle {
	t.Helper()
	return setupOn(t, pgtest.NewPool(t), opts...)
}

func setupOn(t *testing.T, pool *pgxpool.Pool, opts ...func(*reconciler.Options)) bundle {
	t.Helper()
	on := true
	reg := prometheus.NewRegistry()
	o := reconciler.Options{Registerer: reg, Name: t.Name()}
	for _, f := range opts {
		f(&o)
	}
	rec, err := reconciler.New(pool, o)
	require.NoError(t, err)
	return bundle{ctx: context.Background(), pool: pool, reg: reg, rec: rec, l: ledger.New(ledger.Options{Enabled: &on})}
}

// declare writes an expectation as if it had been declared ago before now
// (database clock), with the given deadline; deadline 0 records an explicit
// NULL deadline.
func declare(t *testing.T, b bundle, run uuid.UUID, domain ledger.Domain, action ledger.Action, ago, deadline time.Duration) {
	t.Helper()
	ledgertest.Declare(t, b.pool, ledger.DefaultTenant, run, domain, action, ledgertest.Now(t, b.pool).Add(-ago), deadline)
}

// declareRun declares the five standard expectations of run, ago before
// now, each with deadline.
func declareRun(t *testing.T, b bundle, run uuid.UUID, ago, deadline time.Duration) {
	t.Helper()
	ledgertest.DeclareRun(t, b.pool, ledger.DefaultTenant, run, ledgertest.Now(t, b.pool).Add(-ago), deadline)
}

func ack(t *testing.T, b bundle, run uuid.UUID, d ledger.Domain, a ledger.Action, errText string) {
	t.Helper()
	require.NoError(t, b.l.Ack(b.ctx, b.pool, ledger.Ack{RunID: run, Domain: d, Action: a, Error: errText}))
}

// ackAll acks, through the library, every standard action of run except
// those listed.
func ackAll(t *testing.T, b bundle, run uuid.UUID, except ...ledger.Action) {
	t.Helper()
	for _, e := range ledgertest.StandardExcept(except...) {
		ack(t, b, run, e.Domain, e.Action, "")
	}
}

// pass runs one pass once every ledger row written so far is final.
func pass(t *testing.T, b bundle) reconciler.Summary {
	t.Helper()
	return ledgertest.Pass(t, b.pool, b.rec)
}

// findings returns "domain/action:kind" for every finding of run, sorted.
func findings(t *testing.T, b bundle, run uuid.UUID) []string {
	t.Helper()
	return strings1(t, b, `
		SELECT c.domain || '/' || c.action || ':' || f.kind
		FROM rac.findings f JOIN rac.contract_actions c ON c.id = f.action_id
		WHERE f.run_id = $1 ORDER BY 1`, run)
}

// openFindings is findings restricted to rac.open_findings.
func openFindings(t *testing.T, b bundle, run uuid.UUID) []string {
	t.Helper()
	return strings1(t, b, `SELECT domain || '/' || action || ':' || kind FROM rac.open_findings WHERE run_id = $1 ORDER BY 1`, run)
}

func verdict(t *testing.T, b bundle, run uuid.UUID) string {
	t.Helper()
	v := strings1(t, b, `SELECT verdict FROM rac.run_status WHERE run_id = $1`, run)
	require.LessOrEqual(t, len(v), 1, "one status per run")
	if len(v) == 0 {
		return "unreconciled"
	}
	return v[0]
}

func strings1(t *testing.T, b bundle, sql string, args ...any) []string {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, sql, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	if out == nil {
		out = []string{}
	}
	return out
}

func count(t *testing.T, b bundle, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, sql, args...).Scan(&n))
	return n
}

// ledgerState is every finding, resolution and verdict of a database as
// sorted text, tenant and run by name, for comparing two databases.
func ledgerState(t *testing.T, b bundle) string {
	t.Helper()
	parts := strings1(t, b, `
		SELECT 'finding ' || f.run_id || ' ' || c.domain || '/' || c.action || ' ' || f.kind
		FROM rac.findings f JOIN rac.contract_actions c ON c.id = f.action_id
		UNION ALL
		SELECT 'resolution ' || f.run_id || ' ' || f.kind || ' ' || r.resolution
		FROM rac.finding_resolutions r JOIN rac.findings f ON f.id = r.finding_id
		UNION ALL
		SELECT 'verdict ' || v.run_id || ' ' || v.seq || ' ' || v.verdict FROM rac.run_verdicts v`)
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

// settle waits until every ledger row written so far is final.
func settle(t *testing.T, b bundle) {
	t.Helper()
	pgtest.WaitFinal(t, b.pool)
}

// ackAgo writes an ack as if written ago before now (a fixture: the library
// always stamps acks with the database clock).
func ackAgo(t *testing.T, b bundle, run uuid.UUID, d ledger.Domain, a ledger.Action, errText string, ago time.Duration) {
	t.Helper()
	ledgertest.Ack(t, b.pool, run, d, a, errText, ledgertest.Now(t, b.pool).Add(-ago))
}

// ackAllAgo acks every standard action of run except those listed, ago
// before now.
func ackAllAgo(t *testing.T, b bundle, run uuid.UUID, ago time.Duration, except ...ledger.Action) {
	t.Helper()
	ledgertest.AckRun(t, b.pool, run, ledgertest.Now(t, b.pool).Add(-ago), except...)
}
