package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

type bundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
	reg  *prometheus.Registry
	l    *ledger.Ledger
}

func setup(t *testing.T) bundle {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE public.incidents (id bigserial PRIMARY KEY, run_id uuid NOT NULL, note text NOT NULL)`)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	on := true
	return bundle{ctx: ctx, pool: pool, reg: reg,
		l: ledger.New(ledger.Options{Registerer: reg, Enabled: &on, DeclaredBy: "test-service"})}
}

func count(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// ledgerCounts returns the row counts of the business and ledger tables.
func ledgerCounts(t *testing.T, pool *pgxpool.Pool) [3]int {
	return [3]int{count(t, pool, "public.incidents"), count(t, pool, "rac.expectations"), count(t, pool, "rac.acks")}
}

// serviceTx is what a domain does: write its own row, the run's
// expectations and its ack in one transaction.
func serviceTx(ctx context.Context, l *ledger.Ledger, tx pgx.Tx, runID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `INSERT INTO public.incidents (run_id, note) VALUES ($1, 'disk full')`, runID); err != nil {
		return err
	}
	if err := l.Expect(ctx, tx, runID, ledger.StandardRun(5*time.Second)...); err != nil {
		return err
	}
	return l.Ack(ctx, tx, ledger.Ack{RunID: runID, Domain: ledger.Incidents, Action: ledger.CreateIncident,
		ResultID: "inc-42", IdempotencyKey: "k1"})
}

func TestServiceTransaction(t *testing.T) {
	t.Parallel()

	t.Run("rolled back leaves nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		require.NoError(t, serviceTx(b.ctx, b.l, tx, uuid.New()))
		require.NoError(t, tx.Rollback(b.ctx))
		require.Equal(t, [3]int{0, 0, 0}, ledgerCounts(t, b.pool))
	})

	t.Run("committed leaves exactly those rows", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		runID := uuid.New()
		require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
			return serviceTx(b.ctx, b.l, tx, runID)
		}))
		require.Equal(t, [3]int{1, 5, 1}, ledgerCounts(t, b.pool))

		rows, err := b.pool.Query(b.ctx, `
			SELECT c.domain, c.action, e.deadline_ms, e.deadline_at - e.declared_at, e.declared_by, e.tx_id = a.tx_id
			FROM rac.expectations e
			JOIN rac.contract_actions c ON c.id = e.action_id
			CROSS JOIN rac.acks a
			WHERE e.run_id = $1 AND e.tenant_id = 1
			ORDER BY e.id`, runID)
		require.NoError(t, err)
		type exp struct {
			Domain, Action string
			DeadlineMS     int64
			Span           time.Duration
			DeclaredBy     string
			SameTx         bool
		}
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[exp])
		require.NoError(t, err)
		var want []exp
		for _, e := range ledger.StandardRun(5 * time.Second) {
			want = append(want, exp{string(e.Domain), string(e.Action), 5000, 5 * time.Second, "test-service", true})
		}
		require.Equal(t, want, got)

		var (
			ackRun                  uuid.UUID
			domain, action, result  string
			key                     string
			ackErr                  *string
			ackedAfterDeclaration   bool
			txIsCurrentTransactions bool
		)
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			SELECT a.run_id, c.domain, c.action, a.result_id, a.idempotency_key, a.error,
			       a.acked_at >= (SELECT max(declared_at) FROM rac.expectations),
			       a.tx_id < pg_current_xact_id()::text::bigint
			FROM rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id`).
			Scan(&ackRun, &domain, &action, &result, &key, &ackErr, &ackedAfterDeclaration, &txIsCurrentTransactions))
		require.Equal(t, runID, ackRun)
		require.Equal(t, "incidents/create_incident/inc-42/k1", domain+"/"+action+"/"+result+"/"+key)
		require.Nil(t, ackErr)
		require.True(t, ackedAfterDeclaration)
		require.True(t, txIsCurrentTransactions)

		require.Equal(t, 5.0, metric(t, b.reg, "rac_expectations_written_total", nil))
		require.Equal(t, 1.0, metric(t, b.reg, "rac_acks_written_total",
			map[string]string{"domain": "incidents", "action": "create_incident", "outcome": "success"}))
	})
}

// metric returns the sum of the counters name whose labels include labels,
// or 0 when there is none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	// The sum over every series matching labels: known label sets exist
	// from the start at zero.
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func TestAckRetriesSameKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := uuid.New()
	const workers = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
				return b.l.Ack(b.ctx, tx, ledger.Ack{RunID: runID, Domain: ledger.Logs, Action: ledger.StartTrace,
					ResultID: fmt.Sprintf("trace-%d", i), IdempotencyKey: "start-trace-once"})
			})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "worker %d", i)
	}
	require.Equal(t, 1, count(t, b.pool, "rac.acks"))
	require.Equal(t, 1.0, metric(t, b.reg, "rac_acks_written_total",
		map[string]string{"domain": "logs", "action": "start_trace", "outcome": "success"}))
}

func TestAckIdempotency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := uuid.New()
	ack := ledger.Ack{RunID: runID, Domain: ledger.Policies, Action: ledger.EvaluatePolicy, ResultID: "p-1", IdempotencyKey: "k"}

	t.Run("same key again writes nothing", func(t *testing.T) {
		require.NoError(t, b.l.Ack(b.ctx, b.pool, ack))
		require.NoError(t, b.l.Ack(b.ctx, b.pool, ack))
		require.NoError(t, b.l.Ack(b.ctx, b.pool, ack, ack)) // a batch repeating it too
		require.Equal(t, 1, count(t, b.pool, "rac.acks"))
	})
	t.Run("same key for another action or run is a new ack", func(t *testing.T) {
		other := ack
		other.Action, other.Domain = ledger.FinalizeRun, ledger.Orchestrator
		otherRun := ack
		otherRun.RunID = uuid.New()
		require.NoError(t, b.l.Ack(b.ctx, b.pool, other, otherRun))
		require.Equal(t, 3, count(t, b.pool, "rac.acks"))
		require.Equal(t, 2.0, metric(t, b.reg, "rac_acks_written_total", map[string]string{"domain": "policies"}))
	})
	t.Run("acks without a key are never deduplicated", func(t *testing.T) {
		keyless := ledger.Ack{RunID: runID, Domain: ledger.Logs, Action: ledger.CompleteTrace}
		require.NoError(t, b.l.Ack(b.ctx, b.pool, keyless))
		require.NoError(t, b.l.Ack(b.ctx, b.pool, keyless, keyless))
		require.Equal(t, 6, count(t, b.pool, "rac.acks"))
	})
	t.Run("failure reports are recorded with their error", func(t *testing.T) {
		failed := ledger.Ack{RunID: runID, Domain: ledger.Incidents, Action: ledger.CreateIncident,
			Error: "incident store unavailable", Metadata: []byte(`{"attempt": 3}`)}
		require.NoError(t, b.l.Ack(b.ctx, b.pool, failed))
		var msg string
		var attempt int
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT error, (metadata->>'attempt')::int FROM rac.acks WHERE error IS NOT NULL`).Scan(&msg, &attempt))
		require.Equal(t, "incident store unavailable", msg)
		require.Equal(t, 3, attempt)
		require.Equal(t, 1.0, metric(t, b.reg, "rac_acks_written_total",
			map[string]string{"domain": "incidents", "action": "create_incident", "outcome": "failure"}))
	})
	require.Equal(t, 7, count(t, b.pool, "rac.acks"))
	// The single-ack insert says ON CONFLICT DO NOTHING without a target
	// (queries/acks.sql): that is only the idempotency rule while the
	// idempotency key is the table's one unique constraint.
	var unique []string
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT array_agg(c.relname::text) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'rac.acks'::regclass AND i.indisunique`).Scan(&unique))
	require.Equal(t, []string{"acks_idempotency_key"}, unique)
	// Every written row was counted once, repeats never (one series each).
	require.Equal(t, 7.0,
		metric(t, b.reg, "rac_acks_written_total", map[string]string{"domain": "policies"})+
			metric(t, b.reg, "rac_acks_written_total", map[string]string{"domain": "orchestrator"})+
			metric(t, b.reg, "rac_acks_written_total", map[string]string{"domain": "logs"})+
			metric(t, b.reg, "rac_acks_written_total", map[string]string{"domain": "incidents"}))
}

func TestExpectRedeclaration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := uuid.New()
	require.NoError(t, b.l.Expect(b.ctx, b.pool, runID, ledger.StandardRun(time.Second)...))

	t.Run("identical declaration is a no-op", func(t *testing.T) {
		require.NoError(t, b.l.Expect(b.ctx, b.pool, runID, ledger.StandardRun(time.Second)...))
		require.Equal(t, 5, count(t, b.pool, "rac.expectations"))
		require.Equal(t, 5.0, metric(t, b.reg, "rac_expectations_written_total", nil))
	})

	t.Run("different deadline is a conflict that writes nothing", func(t *testing.T) {
		require.NoError(t, b.l.RegisterAction(b.ctx, b.pool, "billing", "refund_card", "The card was refunded."))
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer tx.Rollback(b.ctx)
		_, err = tx.Exec(b.ctx, `INSERT INTO public.incidents (run_id, note) VALUES ($1, 'kept')`, runID)
		require.NoError(t, err)

		// One fresh expectation (an action registered just now, never
		// declared for the run), one identical and one conflicting: the
		// batch is all or nothing, so the fresh one is not written either.
		exps := []ledger.Expectation{
			{Domain: "billing", Action: "refund_card", Deadline: time.Second},
			{Domain: ledger.Incidents, Action: ledger.CreateIncident, Deadline: time.Second},
			{Domain: ledger.Logs, Action: ledger.StartTrace, Deadline: 2 * time.Second},
		}
		err = b.l.Expect(b.ctx, tx, runID, exps...)
		require.ErrorIs(t, err, ledger.ErrConflict)
		var cerr *ledger.ConflictError
		require.ErrorAs(t, err, &cerr)
		require.Equal(t, []string{"logs/start_trace"}, cerr.Actions)

		require.NoError(t, tx.Commit(b.ctx), "the caller's transaction must survive the conflict")
		require.Equal(t, 5, count(t, b.pool, "rac.expectations"))
		var fresh int
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			SELECT count(*) FROM rac.expectations e JOIN rac.contract_actions c ON c.id = e.action_id
			WHERE c.domain = 'billing' AND c.action = 'refund_card'`).Scan(&fresh))
		require.Zero(t, fresh, "the batch's fresh expectation is not written")
		require.Equal(t, 1, count(t, b.pool, "public.incidents"))
		var ms int64
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT max(deadline_ms) FROM rac.expectations`).Scan(&ms))
		require.EqualValues(t, 1000, ms)
	})

	t.Run("a conflicting batch writes none of its new expectations", func(t *testing.T) {
		require.NoError(t, b.l.RegisterAction(b.ctx, b.pool, "billing", "charge_card", "The card was charged."))
		err := b.l.Expect(b.ctx, b.pool, runID,
			ledger.Expectation{Domain: "billing", Action: "charge_card", Deadline: time.Second},
			ledger.Expectation{Domain: ledger.Orchestrator, Action: ledger.FinalizeRun, Deadline: time.Minute})
		require.ErrorIs(t, err, ledger.ErrConflict)
		require.Equal(t, 5, count(t, b.pool, "rac.expectations"))
	})
}

func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	run := uuid.New()
	ok := ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace, IdempotencyKey: "ok"}
	with := func(f func(*ledger.Ack)) ledger.Ack { a := ok; f(&a); return a }
	goodExp := ledger.Expectation{Domain: ledger.Logs, Action: ledger.StartTrace, Deadline: time.Second}

	type call func(ctx context.Context, l *ledger.Ledger, tx pgx.Tx) error
	ack := func(acks ...ledger.Ack) call {
		return func(ctx context.Context, l *ledger.Ledger, tx pgx.Tx) error { return l.Ack(ctx, tx, acks...) }
	}
	expect := func(runID uuid.UUID, exps ...ledger.Expectation) call {
		return func(ctx context.Context, l *ledger.Ledger, tx pgx.Tx) error { return l.Expect(ctx, tx, runID, exps...) }
	}
	expectDeadline := func(d time.Duration) call {
		return expect(run, ledger.Expectation{Domain: ledger.Logs, Action: ledger.StartTrace, Deadline: d})
	}

	cases := []struct {
		name string
		call call
		want error
	}{
		{"ack nil run", ack(with(func(a *ledger.Ack) { a.RunID = uuid.Nil })), ledger.ErrNilRun},
		{"ack unknown action", ack(with(func(a *ledger.Ack) { a.Action = "launch_rockets" })), ledger.ErrUnknownAction},
		{"ack unknown domain", ack(with(func(a *ledger.Ack) { a.Domain = "nasa" })), ledger.ErrUnknownAction},
		{"ack malformed domain", ack(with(func(a *ledger.Ack) { a.Domain = "Logs" })), ledger.ErrBadName},
		{"ack malformed action", ack(with(func(a *ledger.Ack) { a.Action = "start-trace" })), ledger.ErrBadName},
		{"ack empty action", ack(with(func(a *ledger.Ack) { a.Action = "" })), ledger.ErrBadName},
		{"ack action name too long", ack(with(func(a *ledger.Ack) { a.Action = ledger.Action("a" + strings.Repeat("b", 63)) })), ledger.ErrBadName},
		{"ack result id over 256 bytes", ack(with(func(a *ledger.Ack) { a.ResultID = strings.Repeat("r", 257) })), ledger.ErrTooLong},
		{"ack idempotency key over 256 bytes", ack(with(func(a *ledger.Ack) { a.IdempotencyKey = strings.Repeat("k", 257) })), ledger.ErrTooLong},
		{"ack error over 8 KiB", ack(with(func(a *ledger.Ack) { a.Error = strings.Repeat("e", 8<<10+1) })), ledger.ErrTooLong},
		{"ack metadata over 64 KiB", ack(with(func(a *ledger.Ack) { a.Metadata = []byte(`"` + strings.Repeat("m", 64<<10) + `"`) })), ledger.ErrTooLong},
		{"ack metadata not JSON", ack(with(func(a *ledger.Ack) { a.Metadata = []byte(`{"a":`) })), ledger.ErrBadMetadata},
		{"ack metadata with NUL escape", ack(with(func(a *ledger.Ack) { a.Metadata = []byte(`{"a":"x\u0000y"}`) })), ledger.ErrBadMetadata},
		{"ack result id not UTF-8", ack(with(func(a *ledger.Ack) { a.ResultID = "\xff\xfe" })), ledger.ErrBadText},
		{"ack error with NUL byte", ack(with(func(a *ledger.Ack) { a.Error = "bad\x00news" })), ledger.ErrBadText},
		{"ack empty batch", ack(), ledger.ErrEmpty},
		{"ack batch with one bad item", ack(ok, ok, with(func(a *ledger.Ack) { a.Action = "nope" })), ledger.ErrUnknownAction},
		{"expect nil run", expect(uuid.Nil, ledger.StandardRun(time.Second)...), ledger.ErrNilRun},
		{"expect zero deadline", expectDeadline(0), ledger.ErrNoDeadline},
		{"expect negative deadline", expectDeadline(-time.Second), ledger.ErrNoDeadline},
		{"expect deadline under a millisecond", expectDeadline(999 * time.Microsecond), ledger.ErrNoDeadline},
		{"expect deadline beyond the maximum", expectDeadline(ledger.MaxDeadline + time.Millisecond), ledger.ErrNoDeadline},
		{"expect unknown action", expect(run, ledger.Expectation{Domain: "logs", Action: "rotate", Deadline: time.Second}), ledger.ErrUnknownAction},
		{"expect malformed domain", expect(run, ledger.Expectation{Domain: "1logs", Action: "start_trace", Deadline: time.Second}), ledger.ErrBadName},
		{"expect empty batch", expect(run), ledger.ErrEmpty},
		{"expect batch with one bad item", expect(run, append(ledger.StandardRun(time.Second), ledger.Expectation{Domain: "logs", Action: "start_trace"})...), ledger.ErrNoDeadline},
		{"expect same action twice with different deadlines", expect(run, goodExp, ledger.Expectation{Domain: goodExp.Domain, Action: goodExp.Action, Deadline: time.Minute}), ledger.ErrDuplicate},
		{"write on a nil handle", func(ctx context.Context, l *ledger.Ledger, _ pgx.Tx) error { return l.Ack(ctx, nil, ok) }, ledger.ErrNilDB},
		{"ledger with unknown tenant", func(ctx context.Context, _ *ledger.Ledger, tx pgx.Tx) error {
			return ledger.New(ledger.Options{Tenant: "nobody_here"}).Ack(ctx, tx, ok)
		}, ledger.ErrUnknownTenant},
		{"ledger with malformed tenant", func(ctx context.Context, _ *ledger.Ledger, tx pgx.Tx) error {
			return ledger.New(ledger.Options{Tenant: "Bad Tenant"}).Ack(ctx, tx, ok)
		}, ledger.ErrBadName},
	}

	b := setup(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := b.pool.Begin(b.ctx)
			require.NoError(t, err)
			defer tx.Rollback(b.ctx)
			_, err = tx.Exec(b.ctx, `INSERT INTO public.incidents (run_id, note) VALUES ($1, $2)`, run, tc.name)
			require.NoError(t, err)

			err = tc.call(b.ctx, b.l, tx)
			require.ErrorIs(t, err, ledger.ErrInvalid)
			require.ErrorIs(t, err, tc.want)
			require.NotContains(t, err.Error(), "SQLSTATE", "refused in Go, not by the database")

			// The business write survives: the transaction is still usable.
			require.NoError(t, tx.Commit(b.ctx))
		})
	}
	require.Equal(t, len(cases), count(t, b.pool, "public.incidents"))
	require.Equal(t, 0, count(t, b.pool, "rac.expectations"))
	require.Equal(t, 0, count(t, b.pool, "rac.acks"))
}

func TestInputErrorNamesTheField(t *testing.T) {
	t.Parallel()
	l := ledger.New(ledger.Options{})
	err := l.Ack(context.Background(), nopDB{}, ledger.Ack{RunID: uuid.New(), Domain: ledger.Logs, Action: ledger.StartTrace},
		ledger.Ack{RunID: uuid.New(), Domain: ledger.Logs, Action: ledger.StartTrace, IdempotencyKey: strings.Repeat("k", 300)})
	var ie *ledger.InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, 1, ie.Index)
	require.Equal(t, "idempotency_key", ie.Field)
	require.Equal(t, "rac: invalid ack[1].idempotency_key: 300 bytes, at most 256", err.Error())
}

func TestSetupErrorsNameTheItem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	on := true
	cases := []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"a write on a nil handle", ledger.New(ledger.Options{Enabled: &on}).Ack(ctx, nil, ledger.Ack{}),
			ledger.ErrNilDB, "rac: invalid options: nil database handle"},
		{"registering an action on a nil handle", ledger.New(ledger.Options{}).RegisterAction(ctx, nil, "billing", "charge_card", ""),
			ledger.ErrNilDB, "rac: invalid action: nil database handle"},
		{"registering a tenant on a nil handle", ledger.RegisterTenant(ctx, nil, "acme"),
			ledger.ErrNilDB, "rac: invalid tenant: nil database handle"},
		{"registering a malformed tenant", ledger.RegisterTenant(ctx, nopDB{}, "Acme"),
			ledger.ErrBadName, `rac: invalid tenant.name: "Acme" does not match ^[a-z][a-z0-9_-]{0,62}$`},
		{"a ledger for a malformed tenant", ledger.New(ledger.Options{Enabled: &on, Tenant: "Acme"}).Ack(ctx, nopDB{}, ledger.Ack{}),
			ledger.ErrBadName, `rac: invalid options.tenant: "Acme" does not match ^[a-z][a-z0-9_-]{0,62}$`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, c.err, c.want)
			require.ErrorIs(t, c.err, ledger.ErrInvalid)
			require.EqualError(t, c.err, c.msg)
		})
	}
}

// nopDB fails the test if the library touches it: input errors must be
// found before any statement.
type nopDB struct{ ledger.DBTX }

func TestAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := uuid.New()
	require.NoError(t, b.l.Expect(b.ctx, b.pool, runID, ledger.StandardRun(time.Second)...))
	require.NoError(t, b.l.Ack(b.ctx, b.pool, ledger.Ack{RunID: runID, Domain: ledger.Logs, Action: ledger.StartTrace}))

	// Each table with a column an UPDATE could otherwise change.
	tables := map[string]string{"rac.tenants": "name", "rac.contract_actions": "description",
		"rac.expectations": "run_id", "rac.acks": "run_id"}
	snapshot := func(table string) string {
		var s string
		require.NoError(t, b.pool.QueryRow(b.ctx,
			fmt.Sprintf(`SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %s t`, table)).Scan(&s))
		return s
	}
	for table, column := range tables {
		before := snapshot(table)
		for _, stmt := range []string{
			"UPDATE " + table + " SET " + column + " = " + column,
			"UPDATE " + table + " SET " + column + " = " + column + " WHERE false", // statement-level: refused even when no row matches
			"DELETE FROM " + table,
			"DELETE FROM " + table + " WHERE false",
			"TRUNCATE " + table + " CASCADE",
		} {
			t.Run(stmt, func(t *testing.T) {
				_, err := b.pool.Exec(b.ctx, stmt)
				var pgErr *pgconn.PgError
				require.ErrorAs(t, err, &pgErr)
				require.Equal(t, "RC001", pgErr.Code)
				require.Contains(t, pgErr.Message, table+" is append-only")
			})
		}
		require.Equal(t, before, snapshot(table), "rows of %s intact", table)
	}
	require.Equal(t, 5, count(t, b.pool, "rac.expectations"))
	require.Equal(t, 1, count(t, b.pool, "rac.acks"))
}

func TestDisabledWritesNothing(t *testing.T) {
	// Not parallel: it sets RAC_ENABLED for the process.
	t.Setenv(ledger.EnabledEnv, "false")
	b := setup(t)
	l := ledger.New(ledger.Options{Registerer: prometheus.NewRegistry()}) // Enabled nil: reads RAC_ENABLED
	require.False(t, l.Enabled())
	off := false
	for _, l := range []*ledger.Ledger{l, ledger.New(ledger.Options{Enabled: &off})} {
		runID := uuid.New()
		require.NoError(t, l.Expect(b.ctx, b.pool, runID, ledger.StandardRun(time.Second)...))
		require.NoError(t, l.Ack(b.ctx, b.pool, ledger.Ack{RunID: runID, Domain: ledger.Logs, Action: ledger.StartTrace}))
		// In-Go validation still reports bugs while disabled.
		require.ErrorIs(t, l.Ack(b.ctx, b.pool, ledger.Ack{Domain: ledger.Logs, Action: ledger.StartTrace}), ledger.ErrNilRun)
	}
	require.Equal(t, 0, count(t, b.pool, "rac.expectations"))
	require.Equal(t, 0, count(t, b.pool, "rac.acks"))

	t.Setenv(ledger.EnabledEnv, "true")
	require.True(t, ledger.New(ledger.Options{}).Enabled())
}

func TestTenantsAndRegisteredActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, ledger.RegisterTenant(b.ctx, b.pool, "acme"))
	require.NoError(t, ledger.RegisterTenant(b.ctx, b.pool, "acme"), "registering twice is a no-op")
	acme := ledger.New(ledger.Options{Tenant: "acme"})
	require.NoError(t, acme.RegisterAction(b.ctx, b.pool, "billing", "charge_card", "The card was charged."))
	require.NoError(t, acme.RegisterAction(b.ctx, b.pool, "billing", "charge_card", "again"), "registering twice is a no-op")

	runID := uuid.New()
	require.NoError(t, acme.Expect(b.ctx, b.pool, runID, ledger.Expectation{Domain: "billing", Action: "charge_card", Deadline: time.Minute}))
	require.NoError(t, acme.Ack(b.ctx, b.pool, ledger.Ack{RunID: runID, Domain: "billing", Action: "charge_card", IdempotencyKey: "c"}))
	// The default tenant may use the same run id and key: tenants are separate.
	require.NoError(t, b.l.Ack(b.ctx, b.pool, ledger.Ack{RunID: runID, Domain: "billing", Action: "charge_card", IdempotencyKey: "c"}))

	var perTenant string
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT string_agg(t.name || '=' || n, ',' ORDER BY t.name)
		FROM (SELECT tenant_id, count(*) AS n FROM rac.acks GROUP BY tenant_id) a
		JOIN rac.tenants t ON t.id = a.tenant_id`).Scan(&perTenant))
	require.Equal(t, "acme=1,default=1", perTenant)
	var desc string
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT description FROM rac.contract_actions WHERE domain = 'billing'`).Scan(&desc))
	require.Equal(t, "The card was charged.", desc)

	require.ErrorIs(t, ledger.RegisterTenant(b.ctx, b.pool, "Not A Tenant"), ledger.ErrBadName)
	require.ErrorIs(t, acme.RegisterAction(b.ctx, b.pool, "billing", "Charge", ""), ledger.ErrBadName)
}

func TestAckBatchAcrossRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var acks []ledger.Ack
	for i := range 100 {
		acks = append(acks, ledger.Ack{RunID: uuid.New(), Domain: ledger.Orchestrator, Action: ledger.FinalizeRun,
			ResultID: fmt.Sprintf("run-%d", i), IdempotencyKey: "final"})
	}
	require.NoError(t, b.l.Ack(b.ctx, b.pool, acks...))
	require.NoError(t, b.l.Ack(b.ctx, b.pool, acks...))
	require.Equal(t, 100, count(t, b.pool, "rac.acks"))
	var distinctTx int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(DISTINCT tx_id) FROM rac.acks`).Scan(&distinctTx))
	require.Equal(t, 1, distinctTx, "one statement, one transaction")
	require.Equal(t, 100.0, metric(t, b.reg, "rac_acks_written_total", map[string]string{"action": "finalize_run"}))
}

func TestStandardRun(t *testing.T) {
	t.Parallel()
	got := ledger.StandardRun(3 * time.Second)
	require.Len(t, got, 5)
	pairs := make([]string, len(got))
	for i, e := range got {
		require.Equal(t, 3*time.Second, e.Deadline)
		pairs[i] = string(e.Domain) + "/" + string(e.Action)
	}
	require.Equal(t, []string{"incidents/create_incident", "policies/evaluate_policy", "logs/start_trace",
		"logs/complete_trace", "orchestrator/finalize_run"}, pairs)
}

func TestMetricNameClashDoesNotStopWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	// Someone else's collector under the ledger's metric name, with other labels.
	require.NoError(t, reg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rac_acks_written_total", Help: "not ours"}, []string{"service"})))
	l := ledger.New(ledger.Options{Registerer: reg})
	run := uuid.New()
	require.NoError(t, l.Ack(b.ctx, b.pool, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace}))
	require.Equal(t, 1, count(t, b.pool, "rac.acks"))

	// Two Ledgers on one registry share the series.
	shared := prometheus.NewRegistry()
	l1, l2 := ledger.New(ledger.Options{Registerer: shared}), ledger.New(ledger.Options{Registerer: shared})
	require.NoError(t, l1.Ack(b.ctx, b.pool, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.CompleteTrace}))
	require.NoError(t, l2.Ack(b.ctx, b.pool, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.CompleteTrace}))
	require.Equal(t, 2.0, metric(t, shared, "rac_acks_written_total", map[string]string{"action": "complete_trace", "outcome": "success"}))
}
