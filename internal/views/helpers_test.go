package views_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

const (
	defaultTenant = ledger.DefaultTenant
	acme          = "acme"
)

type bundle struct {
	ctx  context.Context
	db   pgtest.Database
	pool *pgxpool.Pool
	l    *ledger.Ledger
	rec  *reconciler.Reconciler
}

func setup(t *testing.T) bundle {
	t.Helper()
	db := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), db.URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	rec, err := reconciler.New(pool, reconciler.Options{Name: t.Name()})
	require.NoError(t, err)
	on := true
	return bundle{ctx: context.Background(), db: db, pool: pool, rec: rec, l: ledger.New(ledger.Options{Enabled: &on})}
}

// declareAt writes the expectation (tenant, run, domain/action) as if it
// had been declared at the given time with the given deadline; deadline 0
// records an explicit NULL deadline.
func declareAt(t *testing.T, b bundle, tenant string, run uuid.UUID, d ledger.Domain, a ledger.Action, at time.Time, deadline time.Duration) {
	t.Helper()
	ledgertest.Declare(t, b.pool, tenant, run, d, a, at, deadline)
}

// declareRunAt declares the five standard expectations of run at the given
// time, each with deadline.
func declareRunAt(t *testing.T, b bundle, tenant string, run uuid.UUID, at time.Time, deadline time.Duration) {
	t.Helper()
	ledgertest.DeclareRun(t, b.pool, tenant, run, at, deadline)
}

// ackAt writes an ack as if written at the given time; errText non-empty
// makes it a failure report.
func ackAt(t *testing.T, b bundle, run uuid.UUID, d ledger.Domain, a ledger.Action, errText string, at time.Time) {
	t.Helper()
	ledgertest.Ack(t, b.pool, run, d, a, errText, at)
}

// ackAllAt acks every standard action of run at the given time, except
// those listed.
func ackAllAt(t *testing.T, b bundle, run uuid.UUID, at time.Time, except ...ledger.Action) {
	t.Helper()
	ledgertest.AckRun(t, b.pool, run, at, except...)
}

// scenario is a known mix of runs, declared on fixed days of the previous
// calendar quarter (UTC) so that day and quarter queries have exact
// answers, plus a few runs declared now through the ledger library.
type scenario struct {
	dayA, dayB, dayC time.Time // midnight UTC

	clean, missing, stale, failed, failedThenAcked, late, invalid, drift, pending []uuid.UUID
	invalidUnacked                                                                uuid.UUID
	acme                                                                          uuid.UUID
}

// previousQuarter returns midnight UTC of the first day of the calendar
// quarter before the one holding now.
func previousQuarter(now time.Time) time.Time {
	now = now.UTC()
	first := time.Date(now.Year(), (now.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC)
	return first.AddDate(0, -3, 0)
}

func newRuns(n int) []uuid.UUID {
	runs := make([]uuid.UUID, n)
	for i := range runs {
		runs[i] = uuid.New()
	}
	return runs
}

// Statuses of the seeded (run, domain, action) rows as of now, without
// grace: the numbers every test below derives its expectations from.
var seededStatuses = map[string]int{
	"acked":   50 + 16 + 12 + 8 + 10 + 12 + 2 + 8, // clean, missing, stale, failed, failed then acked, late, invalid, pending runs
	"late":    3,
	"missing": 4 + 3 + 5, // missing, stale, acme
	"failed":  2,
	"pending": 1 + 2, // invalid unacked, pending runs
	"drift":   2,
}

// Findings a first pass records over the seeded scenario.
var seededFindings = map[string]int{
	"missing": 12, "stale": 4, "failed": 2, "late": 3, "drift": 2, "invalid": 3,
}

// seed writes the scenario. Every fixture day's expectations are declared
// at 10:00 UTC with a one hour deadline (due 11:00) and acked on time at
// 10:30 unless said otherwise.
//
// Day A: 10 clean runs (declared at 23:30 the day before, due at 00:30,
// acked at 00:10); 4 runs whose incident is missing; 3 stale runs
// (finalize_run missing).
// Day B: 2 runs whose policy evaluation failed (an error ack only); 2 runs
// whose policy evaluation failed once and then succeeded on time; 3 runs
// whose trace completed late (11:10, 11:20 and 12:00); 3 runs declaring
// only logs/start_trace without deadline (invalid), 2 of them acked; one
// run of tenant acme never acked at all.
// Day C: 2 incidents acked at 09:00 for runs that expected nothing (drift).
// Now, through the ledger library: 2 runs due in an hour, all acked but
// logs/complete_trace (pending).
func seed(t *testing.T, b bundle) scenario {
	t.Helper()
	q := previousQuarter(time.Now())
	s := scenario{dayA: q.AddDate(0, 0, 10), dayB: q.AddDate(0, 0, 11), dayC: q.AddDate(0, 0, 12)}
	at := func(day time.Time, hour, minute int) time.Time {
		return day.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	}
	h := time.Hour

	s.clean, s.missing, s.stale = newRuns(10), newRuns(4), newRuns(3)
	for _, run := range s.clean { // declared the evening before, due at 00:30
		declareRunAt(t, b, defaultTenant, run, at(s.dayA, -1, 30), h)
		ackAllAt(t, b, run, at(s.dayA, 0, 10))
	}
	for _, run := range s.missing {
		declareRunAt(t, b, defaultTenant, run, at(s.dayA, 10, 0), h)
		ackAllAt(t, b, run, at(s.dayA, 10, 30), ledger.CreateIncident)
	}
	for _, run := range s.stale {
		declareRunAt(t, b, defaultTenant, run, at(s.dayA, 10, 0), h)
		ackAllAt(t, b, run, at(s.dayA, 10, 30), ledger.FinalizeRun)
	}

	s.failed, s.failedThenAcked, s.late = newRuns(2), newRuns(2), newRuns(3)
	for _, run := range s.failed {
		declareRunAt(t, b, defaultTenant, run, at(s.dayB, 10, 0), h)
		ackAllAt(t, b, run, at(s.dayB, 10, 30), ledger.EvaluatePolicy)
		ackAt(t, b, run, ledger.Policies, ledger.EvaluatePolicy, "policy engine timeout", at(s.dayB, 10, 20))
	}
	for _, run := range s.failedThenAcked {
		declareRunAt(t, b, defaultTenant, run, at(s.dayB, 10, 0), h)
		ackAt(t, b, run, ledger.Policies, ledger.EvaluatePolicy, "transient", at(s.dayB, 10, 10))
		ackAllAt(t, b, run, at(s.dayB, 10, 30))
	}
	for i, run := range s.late {
		declareRunAt(t, b, defaultTenant, run, at(s.dayB, 10, 0), h)
		ackAllAt(t, b, run, at(s.dayB, 10, 30), ledger.CompleteTrace)
		ackAt(t, b, run, ledger.Logs, ledger.CompleteTrace, "", at(s.dayB, 11, []int{10, 20, 60}[i]))
	}
	s.invalid = newRuns(3)
	for i, run := range s.invalid {
		declareAt(t, b, defaultTenant, run, ledger.Logs, ledger.StartTrace, at(s.dayB, 10, 0), 0)
		if i == 2 {
			s.invalidUnacked = run
			continue
		}
		ackAt(t, b, run, ledger.Logs, ledger.StartTrace, "", at(s.dayB, 10, 30))
	}
	require.NoError(t, ledger.RegisterTenant(b.ctx, b.pool, acme))
	s.acme = uuid.New()
	declareRunAt(t, b, acme, s.acme, at(s.dayB, 10, 0), h)

	s.drift = newRuns(2)
	for _, run := range s.drift {
		ackAt(t, b, run, ledger.Incidents, ledger.CreateIncident, "", at(s.dayC, 9, 0))
	}

	s.pending = newRuns(2)
	for _, run := range s.pending {
		require.NoError(t, b.l.Expect(b.ctx, b.pool, run, ledger.StandardRun(h)...))
		for _, e := range ledger.StandardRun(h) {
			if e.Action == ledger.CompleteTrace {
				continue
			}
			require.NoError(t, b.l.Ack(b.ctx, b.pool, ledger.Ack{RunID: run, Domain: e.Domain, Action: e.Action}))
		}
	}
	return s
}

// pass runs one reconciler pass once every ledger row written so far is
// final.
func pass(t *testing.T, b bundle) reconciler.Summary {
	t.Helper()
	return ledgertest.Pass(t, b.pool, b.rec)
}

// counts runs a query returning (text, count) rows into a map.
func counts(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args ...any) map[string]int {
	t.Helper()
	rows, err := q.Query(context.Background(), sql, args...)
	require.NoError(t, err)
	defer rows.Close() // a failed require must not keep the connection from the pool
	got := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		require.NoError(t, rows.Scan(&k, &n))
		got[k] = n
	}
	require.NoError(t, rows.Err())
	return got
}

// ackNow acks through the ledger library, stamped by the database clock.
func ackNow(t *testing.T, b bundle, run uuid.UUID, d ledger.Domain, a ledger.Action) {
	t.Helper()
	require.NoError(t, b.l.Ack(b.ctx, b.pool, ledger.Ack{RunID: run, Domain: d, Action: a}))
}
