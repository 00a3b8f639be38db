package reconciler_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// checkResolvedAfterViolated turns on the history check that every
// resolution's resolved_at is at or after its finding's violated_at.
const checkResolvedAfterViolated = true

// simFixedSeeds are the seeds TestSimulationConfluence runs by default.
var simFixedSeeds = []uint64{1, 2, 3}

const (
	simDefaultSteps = 400
	simMaxOpen      = 8 // concurrent open ledger transactions
	simMaxIdle      = 2 // concurrent idle sessions holding the horizon
	simReconcilers  = 3 // reconciler instances passes are drawn from
	simOtherTenant  = "sim_b"
	simDiffLines    = 20 // differences printed per failed comparison
	simDumpRuns     = 3  // runs dumped in full per failed comparison
	simEventLines   = 80 // event lines printed per dumped run
)

// TestSimulationConfluence is a seeded, reproducible randomized simulation
// of writers and reconcilers on a real PostgreSQL. One scheduler loop,
// driven by a PCG generator seeded from the seed, takes a number of steps;
// each step begins a ledger transaction (up to simMaxOpen at once, each on
// its own pool connection) with a script of Expect and Ack writes, performs
// the next write of an open transaction, commits or rolls back a
// transaction whose script is done (some are held open long past their
// deadlines while passes run), runs one reconciler pass or two or three at
// once (small batch sizes, so a pass has several batches), opens or ends an
// idle session that holds the cluster-wide horizon, or sleeps 10-40 ms so
// that real deadlines (150 ms .. 1.5 s, database clock) pass meanwhile.
//
// The scripts declare runs (with or without some of their acks in the same
// transaction), ack them in other transactions committed before or after
// the declaration, report errors followed by successes and the reverse,
// retry with the same idempotency key or repeat acks without key, ack
// actions never declared (drift, sometimes declared later), redeclare with
// a different deadline (ledger.ErrConflict: the write is skipped), and
// roll back about a tenth of the transactions.
//
// The contract checked is confluence: once every transaction has finished,
// every deadline has passed and a pass ran past them all, rac.open_findings
// and rac.run_status must equal what one pass over the committed rows gives
// (computed here in Go, independently of the SQL), and one more pass must
// record nothing. After every pass, every run rac.run_status listed before
// must still be listed; at the end, resolutions must not precede their
// findings (see checkResolvedAfterViolated).
//
// The scheduler's choices depend only on the seed, so a seed replays the
// same sequence of writes, commits and passes (only the timing of the
// database clock differs). A failure prints the seed, a diff and, for the
// first differing runs, their rows, findings and event log. Environment:
//
//	RAC_SIM_SEED=N    run only seed N
//	RAC_SIM_SEEDS=K   run K random seeds instead of the fixed ones (printed)
//	RAC_SIM_STEPS=S   scheduler steps per seed (default 400)
//
// For example, a longer run:
//
//	RAC_SIM_SEEDS=50 RAC_SIM_STEPS=1500 go test ./reconciler/ -run TestSimulationConfluence -count=1 -v
func TestSimulationConfluence(t *testing.T) {
	t.Parallel()
	steps := simDefaultSteps
	if v := os.Getenv("RAC_SIM_STEPS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "RAC_SIM_STEPS")
		require.Positive(t, n, "RAC_SIM_STEPS")
		steps = n
	}
	seeds := simFixedSeeds
	if v := os.Getenv("RAC_SIM_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "RAC_SIM_SEED")
		seeds = []uint64{n}
	} else if v := os.Getenv("RAC_SIM_SEEDS"); v != "" {
		k, err := strconv.Atoi(v)
		require.NoError(t, err, "RAC_SIM_SEEDS")
		require.Positive(t, k, "RAC_SIM_SEEDS")
		seeds = make([]uint64, k)
		for i := range seeds {
			seeds[i] = rand.Uint64()
		}
		t.Logf("RAC_SIM_SEEDS=%d: seeds %v", k, seeds)
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed_%d", seed), func(t *testing.T) {
			t.Parallel()
			newSim(t, seed, steps).run()
		})
	}
}

type simRunKey struct {
	tenant string
	run    uuid.UUID
}

type simAction struct {
	domain ledger.Domain
	action ledger.Action
}

func (a simAction) String() string { return string(a.domain) + "/" + string(a.action) }

// simActions are the standard actions, in ledger.StandardRun's order.
var simActions = func() []simAction {
	var out []simAction
	for _, e := range ledger.StandardRun(time.Second) {
		out = append(out, simAction{e.Domain, e.Action})
	}
	return out
}()

var simErrors = []string{"timeout", "policy engine unavailable", "trace store refused the write"}

type simRun struct {
	key      simRunKey
	label    string
	deadline time.Duration
}

// simWrite is one library call: Expect when exps is set, else Ack.
type simWrite struct {
	run  *simRun
	exps []ledger.Expectation
	acks []ledger.Ack
}

func (w simWrite) String() string {
	var b strings.Builder
	if w.exps != nil {
		b.WriteString("expect " + w.run.label)
		for _, e := range w.exps {
			fmt.Fprintf(&b, " %s/%s@%dms", e.Domain, e.Action, e.Deadline.Milliseconds())
		}
		return b.String()
	}
	b.WriteString("ack " + w.run.label)
	for _, a := range w.acks {
		fmt.Fprintf(&b, " %s/%s", a.Domain, a.Action)
		if a.Error != "" {
			fmt.Fprintf(&b, "[error %q]", a.Error)
		}
		if a.IdempotencyKey != "" {
			fmt.Fprintf(&b, "[key %s]", a.IdempotencyKey)
		}
	}
	return b.String()
}

type simScript struct {
	kind      string
	writes    []simWrite
	hold      int // steps after its begin before the transaction may end
	minPasses int // passes that must run after its last write before it may end
	followUps []simFollowUp
	// companions are queued, delay steps later, as soon as the last write
	// is done (while this transaction is still open).
	companions []simFollowUp
}

// simFollowUp is a script queued, delay steps after its transaction
// committed, for a later transaction.
type simFollowUp struct {
	delay  int
	script *simScript
}

type simQueued struct {
	notBefore int
	script    *simScript
}

type simDeclKey struct {
	run simRunKey
	act simAction
}

// simLock is a unique key an open transaction may have written: a
// declaration (key "") or an ack's idempotency key. Another transaction
// writing it would wait for the first to end, so the single scheduler loop
// never issues such a write.
type simLock struct {
	decl simDeclKey
	key  string
}

type simTx struct {
	id       int
	tx       pgx.Tx
	script   *simScript
	next     int
	waits    int
	began    int
	doneAt   int // s.passes when the last write was done; -1 before
	xid      int64
	runs     []simRunKey
	declared map[simDeclKey]time.Duration // declarations this transaction wrote
	acked    []simDeclKey                 // acks this transaction wrote
	locks    []simLock
}

type simIdle struct {
	id    int
	tx    pgx.Tx
	xid   int64
	until int
}

type simEvent struct {
	step int
	at   time.Duration
	runs []simRunKey // nil: a pass or an idle session, shown for every run
	text string
	noop bool // a pass that had no candidate run
}

type sim struct {
	t       *testing.T
	seed    uint64
	steps   int
	ctx     context.Context
	pool    *pgxpool.Pool
	rng     *rand.Rand
	ledgers map[string]*ledger.Ledger
	recs    []*reconciler.Reconciler
	batches []int

	runs   []*simRun
	labels map[simRunKey]string

	slots     []*simTx
	idle      []*simIdle
	queue     []simQueued
	locks     map[simLock]int // holder transaction id
	committed map[simDeclKey]time.Duration

	step, txSeq, idleSeq, keySeq, passes int

	goStart time.Time
	dbStart time.Time
	events  []simEvent

	listed       map[simRunKey]int // step of the pass after which rac.run_status first listed the run
	dropped      map[simRunKey]bool
	droppedCount int

	stats   map[string]int
	timings map[string]time.Duration
}

func newSim(t *testing.T, seed uint64, steps int) *sim {
	t.Helper()
	t.Logf("seed %d, %d steps (rerun: RAC_SIM_SEED=%d RAC_SIM_STEPS=%d)", seed, steps, seed, steps)
	pool := pgtest.NewPool(t)
	s := &sim{
		t:         t,
		seed:      seed,
		steps:     steps,
		ctx:       context.Background(),
		pool:      pool,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		labels:    map[simRunKey]string{},
		slots:     make([]*simTx, simMaxOpen),
		locks:     map[simLock]int{},
		committed: map[simDeclKey]time.Duration{},
		listed:    map[simRunKey]int{},
		dropped:   map[simRunKey]bool{},
		stats:     map[string]int{},
		timings:   map[string]time.Duration{},
	}
	// Registered after NewPool's cleanup, so it runs first: a failed test
	// ends its transactions before the pool closes (and stops holding the
	// horizon for the other tests).
	t.Cleanup(s.abandon)

	require.NoError(t, ledger.RegisterTenant(s.ctx, pool, simOtherTenant))
	on := true
	s.ledgers = map[string]*ledger.Ledger{
		ledger.DefaultTenant: ledger.New(ledger.Options{Enabled: &on}),
		simOtherTenant:       ledger.New(ledger.Options{Enabled: &on, Tenant: simOtherTenant}),
	}
	for i := range simReconcilers {
		bs := 1 + s.rng.IntN(5)
		rec, err := reconciler.New(pool, reconciler.Options{Name: fmt.Sprintf("sim-%d-%d", seed, i), BatchSize: bs})
		require.NoError(t, err)
		s.recs = append(s.recs, rec)
		s.batches = append(s.batches, bs)
	}
	n := 40 + s.rng.IntN(41)
	for i := range n {
		tenant := ledger.DefaultTenant
		if s.rng.IntN(4) == 0 {
			tenant = simOtherTenant
		}
		id := s.uuid()
		if i > 0 && s.rng.IntN(7) == 0 { // the same run id in the other tenant
			prev := s.runs[s.rng.IntN(i)]
			other := simOtherTenant
			if prev.key.tenant == simOtherTenant {
				other = ledger.DefaultTenant
			}
			if _, taken := s.labels[simRunKey{other, prev.key.run}]; !taken {
				tenant, id = other, prev.key.run
			}
		}
		r := &simRun{
			key:      simRunKey{tenant, id},
			label:    fmt.Sprintf("%s/r%02d", tenant, i),
			deadline: time.Duration(150+50*s.rng.IntN(28)) * time.Millisecond,
		}
		s.runs = append(s.runs, r)
		s.labels[r.key] = r.label
	}
	t.Logf("seed %d: %d runs, reconciler batch sizes %v", seed, n, s.batches)
	s.dbStart = ledgertest.Now(t, pool)
	s.goStart = time.Now()
	return s
}

func (s *sim) uuid() uuid.UUID {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], s.rng.Uint64())
	binary.BigEndian.PutUint64(u[8:], s.rng.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d, step %d: %s", s.seed, s.step, fmt.Sprintf(format, args...))
}

func (s *sim) label(k simRunKey) string {
	if l, ok := s.labels[k]; ok {
		return l
	}
	return k.tenant + "/" + k.run.String()
}

func (s *sim) event(runs []simRunKey, format string, args ...any) {
	s.events = append(s.events, simEvent{step: s.step, at: time.Since(s.goStart), runs: runs, text: fmt.Sprintf(format, args...)})
}

func (s *sim) chance(p float64) bool { return s.rng.Float64() < p }

// abandon rolls back whatever a failed test left open.
func (s *sim) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, st := range s.slots {
		if st != nil {
			_ = st.tx.Rollback(ctx)
		}
	}
	for _, i := range s.idle {
		_ = i.tx.Rollback(ctx)
	}
}

func (s *sim) run() {
	for s.step = 1; s.step <= s.steps; s.step++ {
		s.doStep()
	}
	s.step = s.steps + 1
	s.finish()
}

func (s *sim) doStep() {
	type choice struct {
		weight int
		do     func()
	}
	var cs []choice
	add := func(w int, f func()) { cs = append(cs, choice{w, f}) }

	if slot := s.freeSlot(); slot >= 0 {
		add(22, func() { s.begin(slot) })
	}
	var writable, endable []*simTx
	for _, st := range s.slots {
		switch {
		case st == nil:
		case st.next < len(st.script.writes):
			writable = append(writable, st)
		case s.step >= st.began+st.script.hold && s.passes-st.doneAt >= st.script.minPasses:
			endable = append(endable, st)
		}
	}
	if len(writable) > 0 {
		add(35, func() { s.write(writable[s.rng.IntN(len(writable))]) })
	}
	if len(endable) > 0 {
		add(18, func() { s.end(endable[s.rng.IntN(len(endable))], s.rng.IntN(10) == 0) })
	}
	add(7, func() { s.pass(1) })
	add(3, func() { s.pass(2 + s.rng.IntN(2)) })
	if len(s.idle) < simMaxIdle {
		add(3, s.beginIdle)
	}
	var expired []int
	for i, id := range s.idle {
		if s.step >= id.until {
			expired = append(expired, i)
		}
	}
	if len(expired) > 0 {
		add(10, func() { s.endIdle(expired[s.rng.IntN(len(expired))]) })
	}
	add(6, func() {
		d := time.Duration(10+s.rng.IntN(31)) * time.Millisecond
		s.stats["sleeps"]++
		s.timings["sleeping"] += d
		time.Sleep(d) // lets real deadlines pass; not a synchronisation
	})

	total := 0
	for _, c := range cs {
		total += c.weight
	}
	n := s.rng.IntN(total)
	for _, c := range cs {
		if n < c.weight {
			c.do()
			return
		}
		n -= c.weight
	}
}

func (s *sim) freeSlot() int {
	for i, st := range s.slots {
		if st == nil {
			return i
		}
	}
	return -1
}

// begin opens a transaction on slot with a queued follow-up or a new script.
func (s *sim) begin(slot int) {
	var sc *simScript
	ready := -1
	for i, q := range s.queue {
		if q.notBefore <= s.step {
			ready = i
			break
		}
	}
	if ready >= 0 && s.rng.IntN(10) < 7 {
		sc = s.queue[ready].script
		s.queue = slices.Delete(s.queue, ready, ready+1)
		s.stats["follow-up transactions"]++
	} else {
		sc = s.genScript()
	}
	tx, err := s.pool.Begin(s.ctx)
	if err != nil {
		s.fatalf("begin: %v", err)
	}
	s.txSeq++
	st := &simTx{id: s.txSeq, tx: tx, script: sc, began: s.step, doneAt: -1, declared: map[simDeclKey]time.Duration{}}
	for _, w := range sc.writes {
		if !slices.Contains(st.runs, w.run.key) {
			st.runs = append(st.runs, w.run.key)
		}
	}
	if len(sc.writes) == 0 {
		st.doneAt = s.passes
	}
	s.slots[slot] = st
	s.stats["transactions"]++
	s.stats["script "+sc.kind]++
	if sc.hold > 0 {
		s.stats["transactions held open"]++
	}
	s.event(st.runs, "tx#%d begin %s (%d writes, hold %d steps, %d passes)", st.id, sc.kind, len(sc.writes), sc.hold, sc.minPasses)
}

func (s *sim) writeLocks(w simWrite) []simLock {
	var out []simLock
	for _, e := range w.exps {
		out = append(out, simLock{decl: simDeclKey{w.run.key, simAction{e.Domain, e.Action}}})
	}
	for _, a := range w.acks {
		if a.IdempotencyKey != "" {
			out = append(out, simLock{decl: simDeclKey{w.run.key, simAction{a.Domain, a.Action}}, key: a.IdempotencyKey})
		}
	}
	return out
}

// write performs st's next write, unless it would wait for another open
// transaction: then it is deferred, and skipped after three tries.
func (s *sim) write(st *simTx) {
	w := st.script.writes[st.next]
	locks := s.writeLocks(w)
	for _, l := range locks {
		if h, ok := s.locks[l]; ok && h != st.id {
			st.waits++
			if st.waits >= 3 {
				s.stats["writes skipped (would wait for another transaction)"]++
				s.event(st.runs, "tx#%d skips %s: it would wait for tx#%d", st.id, w, h)
				s.advance(st)
			}
			return
		}
	}
	for _, l := range locks {
		if _, ok := s.locks[l]; !ok {
			s.locks[l] = st.id
			st.locks = append(st.locks, l)
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	l := s.ledgers[w.run.key.tenant]
	var err error
	if w.exps != nil {
		err = l.Expect(ctx, st.tx, w.run.key.run, w.exps...)
	} else {
		err = l.Ack(ctx, st.tx, w.acks...)
	}
	switch {
	case err == nil:
		for _, e := range w.exps {
			k := simDeclKey{w.run.key, simAction{e.Domain, e.Action}}
			if _, ok := st.declared[k]; ok {
				continue
			}
			if _, ok := s.committed[k]; !ok {
				st.declared[k] = e.Deadline
			}
		}
		for _, a := range w.acks {
			st.acked = append(st.acked, simDeclKey{w.run.key, simAction{a.Domain, a.Action}})
			if a.Error != "" {
				s.stats["error acks written"]++
			} else {
				s.stats["success acks written"]++
			}
		}
		if w.exps != nil {
			s.stats["expect calls"]++
		}
		s.event(st.runs, "tx#%d %s", st.id, w)
	case w.exps != nil && errors.Is(err, ledger.ErrConflict):
		s.stats["expect calls refused (ErrConflict)"]++
		s.event(st.runs, "tx#%d %s: conflict, skipped (%v)", st.id, w, err)
	default:
		s.fatalf("tx#%d %s: %v", st.id, w, err)
	}
	if st.xid == 0 {
		if err := st.tx.QueryRow(ctx, `SELECT coalesce(pg_current_xact_id_if_assigned()::text::bigint, 0)`).Scan(&st.xid); err != nil {
			s.fatalf("tx#%d: read its xid: %v", st.id, err)
		}
		if st.xid != 0 {
			s.event(st.runs, "tx#%d has xid %d", st.id, st.xid)
		}
	}
	s.advance(st)
}

func (s *sim) advance(st *simTx) {
	st.next++
	st.waits = 0
	if st.next == len(st.script.writes) {
		st.doneAt = s.passes
		for _, c := range st.script.companions {
			s.queue = append(s.queue, simQueued{notBefore: s.step + c.delay, script: c.script})
		}
	}
}

// openlyDeclared reports whether an open transaction other than st
// declared k.
func (s *sim) openlyDeclared(k simDeclKey, except *simTx) bool {
	for _, o := range s.slots {
		if o != nil && o != except {
			if _, ok := o.declared[k]; ok {
				return true
			}
		}
	}
	return false
}

// end commits or rolls back st.
func (s *sim) end(st *simTx, rollback bool) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	verb := "commit"
	if rollback {
		verb = "rollback"
		if err := st.tx.Rollback(ctx); err != nil {
			s.fatalf("tx#%d rollback: %v", st.id, err)
		}
		s.stats["transactions rolled back"]++
	} else {
		if err := st.tx.Commit(ctx); err != nil {
			s.fatalf("tx#%d commit: %v", st.id, err)
		}
		s.stats["transactions committed"]++
		for _, k := range st.acked {
			_, before := s.committed[k]
			_, own := st.declared[k]
			switch {
			case before:
				s.stats["acks committed after their declaration"]++
			case own:
				s.stats["acks committed with their declaration"]++
			case s.openlyDeclared(k, st):
				s.stats["acks committed before their declaration"]++
			default:
				s.stats["acks committed for an undeclared action"]++
			}
		}
		for k, d := range st.declared {
			if _, ok := s.committed[k]; !ok {
				s.committed[k] = d
			}
		}
		for _, f := range st.script.followUps {
			s.queue = append(s.queue, simQueued{notBefore: s.step + f.delay, script: f.script})
		}
		if st.script.hold > 0 {
			s.stats["held transactions committed"]++
		}
	}
	for _, l := range st.locks {
		if s.locks[l] == st.id {
			delete(s.locks, l)
		}
	}
	for i, o := range s.slots {
		if o == st {
			s.slots[i] = nil
		}
	}
	s.event(st.runs, "tx#%d %s (xid %d, %d of %d writes done, began at step %d)", st.id, verb, st.xid, st.next, len(st.script.writes), st.began)
}

func (s *sim) beginIdle() {
	tx, err := s.pool.Begin(s.ctx)
	if err != nil {
		s.fatalf("begin idle session: %v", err)
	}
	s.idleSeq++
	id := &simIdle{id: s.idleSeq, tx: tx, until: s.step + 5 + s.rng.IntN(36)}
	if err := tx.QueryRow(s.ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&id.xid); err != nil {
		s.fatalf("idle session: %v", err)
	}
	s.idle = append(s.idle, id)
	s.stats["idle sessions"]++
	s.event(nil, "idle session #%d opens (xid %d) until step %d", id.id, id.xid, id.until)
}

func (s *sim) endIdle(i int) {
	id := s.idle[i]
	s.idle = slices.Delete(s.idle, i, i+1)
	var err error
	if s.rng.IntN(2) == 0 {
		err = id.tx.Commit(s.ctx)
	} else {
		err = id.tx.Rollback(s.ctx)
	}
	if err != nil {
		s.fatalf("end idle session #%d: %v", id.id, err)
	}
	s.event(nil, "idle session #%d (xid %d) ends", id.id, id.xid)
}

// pass runs n passes at once from different reconcilers.
func (s *sim) pass(n int) {
	order := s.rng.Perm(len(s.recs))[:n]
	sums := make([]reconciler.Summary, n)
	errs := make([]error, n)
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	started := time.Now()
	if n == 1 {
		sums[0], errs[0] = s.recs[order[0]].RunOnce(ctx)
	} else {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, r := range order {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				sums[i], errs[i] = s.recs[r].RunOnce(ctx)
			}()
		}
		close(start)
		wg.Wait()
		s.stats["concurrent pass groups"]++
	}
	s.passes++
	s.stats["passes"] += n
	took := time.Since(started)
	s.timings["passes"] += took
	s.timings["slowest pass step"] = max(s.timings["slowest pass step"], took)
	how := ""
	if n > 1 {
		how = fmt.Sprintf(" (one of %d at once)", n)
	}
	var failed []string
	for i, r := range order {
		if errs[i] != nil {
			failed = append(failed, fmt.Sprintf("reconciler %d: %v", r, errs[i]))
			continue
		}
		s.event(nil, "pass by reconciler %d (batch size %d)%s: %s", r, s.batches[r], how, simSummary(sums[i]))
		s.events[len(s.events)-1].noop = sums[i].CandidateRuns == 0
	}
	if len(failed) > 0 {
		s.fatalf("pass failed: %s", strings.Join(failed, "; "))
	}
	s.checkListed()
}

func simSummary(sum reconciler.Summary) string {
	var kinds []string
	for k, n := range sum.FindingsByKind {
		kinds = append(kinds, fmt.Sprintf("%s:%d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("horizon [%d,%d) deadlines (%s, %s] as of %s: %d candidates in %d batches, +%d findings %v, +%d resolutions, +%d verdicts",
		sum.HorizonFrom, sum.HorizonTo, simTime(sum.DeadlineFrom), simTime(sum.DeadlineTo), simTime(sum.AsOf),
		sum.CandidateRuns, sum.Batches, sum.FindingsRecorded, kinds, sum.ResolutionsRecorded, sum.VerdictsRecorded)
}

func simTime(t time.Time) string {
	if t.Year() < 2000 {
		return "-inf"
	}
	return t.Format("15:04:05.000000")
}

func simTimePtr(t *time.Time) string {
	if t == nil {
		return "NULL"
	}
	return simTime(*t)
}

func simText(p *string) string {
	if p == nil {
		return "NULL"
	}
	return strconv.Quote(*p)
}

// checkListed requires that every run rac.run_status listed after an
// earlier pass is still listed.
func (s *sim) checkListed() {
	rows, err := s.pool.Query(s.ctx, `SELECT tenant_id, run_id FROM rac.run_status`)
	if err != nil {
		s.fatalf("read rac.run_status: %v", err)
	}
	cur := map[simRunKey]bool{}
	for rows.Next() {
		var k simRunKey
		if err := rows.Scan(&k.tenant, &k.run); err != nil {
			s.fatalf("read rac.run_status: %v", err)
		}
		cur[k] = true
	}
	if err := rows.Err(); err != nil {
		s.fatalf("read rac.run_status: %v", err)
	}
	var gone []simRunKey
	for k := range s.listed {
		if !cur[k] && !s.dropped[k] {
			gone = append(gone, k)
		}
	}
	slices.SortFunc(gone, func(a, b simRunKey) int { return strings.Compare(s.label(a), s.label(b)) })
	for _, k := range gone {
		s.dropped[k] = true
		s.droppedCount++
		s.event([]simRunKey{k}, "rac.run_status no longer lists %s", s.label(k))
		if s.droppedCount <= 10 {
			var maxTx, watermark int64
			var verdicts int
			if err := s.pool.QueryRow(s.ctx, `
				SELECT coalesce((SELECT max(x.tx_id) FROM (
				           SELECT e.tx_id FROM rac.expectations e JOIN rac.tenants t ON t.id = e.tenant_id WHERE t.name = $1 AND e.run_id = $2
				           UNION ALL
				           SELECT a.tx_id FROM rac.acks a JOIN rac.tenants t ON t.id = a.tenant_id WHERE t.name = $1 AND a.run_id = $2) x), 0),
				       coalesce((SELECT max(horizon_to) FROM rac.reconciliations WHERE final), 0),
				       (SELECT count(*)::int FROM rac.run_verdicts v JOIN rac.tenants t ON t.id = v.tenant_id WHERE t.name = $1 AND v.run_id = $2)`,
				k.tenant, k.run).Scan(&maxTx, &watermark, &verdicts); err != nil {
				s.fatalf("read the dropped run: %v", err)
			}
			s.t.Errorf("seed %d (rerun: RAC_SIM_SEED=%d RAC_SIM_STEPS=%d): after the pass at step %d rac.run_status no longer lists %s (run %s), listed since the pass at step %d: a run once listed is never dropped (its rows' max tx_id %d, finished passes' max horizon_to %d, %d rac.run_verdicts rows)",
				s.seed, s.seed, s.steps, s.step, s.label(k), k.run, s.listed[k], maxTx, watermark, verdicts)
		}
	}
	for k := range cur {
		if _, ok := s.listed[k]; !ok {
			s.listed[k] = s.step
		}
	}
}

// finish ends every transaction, waits out every deadline, runs a final
// pass and compares, then runs one more pass that must record nothing.
func (s *sim) finish() {
	for _, st := range s.slots {
		if st != nil {
			s.end(st, s.rng.IntN(10) == 0)
		}
	}
	for len(s.idle) > 0 {
		s.endIdle(0)
	}
	s.stats["follow-ups never run"] = len(s.queue)
	started := time.Now()
	s.waitDeadlines()
	s.timings["waiting for the last deadline"] = time.Since(started)
	started = time.Now()
	pgtest.WaitFinal(s.t, s.pool)
	s.timings["waiting for the horizon"] = time.Since(started)

	final, err := reconciler.New(s.pool, reconciler.Options{Name: fmt.Sprintf("sim-%d-final", s.seed), BatchSize: 1 + s.rng.IntN(5)})
	require.NoError(s.t, err)
	sum, err := final.RunOnce(s.ctx)
	if err != nil {
		s.fatalf("final pass: %v", err)
	}
	s.passes++
	s.event(nil, "final pass: %s", simSummary(sum))
	s.checkListed()
	ok := s.compare(sum.AsOf, "after the final pass", true)

	pgtest.WaitFinal(s.t, s.pool)
	again, err := final.RunOnce(s.ctx)
	if err != nil {
		s.fatalf("pass after the final pass: %v", err)
	}
	s.passes++
	s.event(nil, "one more pass: %s", simSummary(again))
	if again.FindingsRecorded != 0 || again.ResolutionsRecorded != 0 || again.VerdictsRecorded != 0 {
		s.t.Errorf("seed %d: a pass after the final pass recorded %d findings %v, %d resolutions, %d verdicts; want nothing (%s)",
			s.seed, again.FindingsRecorded, again.FindingsByKind, again.ResolutionsRecorded, again.VerdictsRecorded, simSummary(again))
	}
	s.checkListed()
	s.compare(again.AsOf, "after one more pass", ok) // the runs in full only if the first comparison held
	s.checkHistory()

	var lines []string
	for k, v := range s.stats {
		lines = append(lines, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(lines)
	var times []string
	for k, v := range s.timings {
		times = append(times, fmt.Sprintf("%s %v", k, v.Round(time.Millisecond)))
	}
	sort.Strings(times)
	s.t.Logf("seed %d: %d steps in %v (%s); %s", s.seed, s.steps, time.Since(s.goStart).Round(time.Millisecond),
		strings.Join(times, ", "), strings.Join(lines, ", "))
}

// waitDeadlines polls the database clock until every declared deadline
// has passed.
func (s *sim) waitDeadlines() {
	limit := time.Now().Add(30 * time.Second)
	for {
		var passed bool
		if err := s.pool.QueryRow(s.ctx,
			`SELECT coalesce(bool_and(deadline_at < clock_timestamp()), true) FROM rac.expectations`).Scan(&passed); err != nil {
			s.fatalf("read deadlines: %v", err)
		}
		if passed {
			return
		}
		if time.Now().After(limit) {
			s.fatalf("deadlines did not pass within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The oracle: what one pass over the committed rows must leave, judged in
// Go from the rules of the package documentation with grace 0.

type simActKey struct {
	run            simRunKey
	domain, action string
}

type simFindingKey struct {
	act  simActKey
	kind string
}

type simExpRow struct {
	id, txID   int64
	key        simActKey
	declaredAt time.Time
	deadlineAt *time.Time
}

type simAckRow struct {
	id, txID int64
	key      simActKey
	ackedAt  time.Time
	err      *string
	idemKey  *string
}

type simJudgment struct {
	status  map[simActKey]string
	open    map[simFindingKey]bool
	verdict map[simRunKey]string
}

func simJudge(exps []simExpRow, acks []simAckRow, asOf time.Time) simJudgment {
	j := simJudgment{status: map[simActKey]string{}, open: map[simFindingKey]bool{}, verdict: map[simRunKey]string{}}
	firstOK, firstErr := map[simActKey]time.Time{}, map[simActKey]time.Time{}
	for _, a := range acks {
		m := firstOK
		if a.err != nil {
			m = firstErr
		}
		if cur, ok := m[a.key]; !ok || a.ackedAt.Before(cur) {
			m[a.key] = a.ackedAt
		}
	}
	expected := map[simActKey]bool{}
	for _, e := range exps {
		expected[e.key] = true
		ok, hasOK := firstOK[e.key]
		_, hasErr := firstErr[e.key]
		var st string
		switch {
		case hasOK && (e.deadlineAt == nil || !ok.After(*e.deadlineAt)):
			st = "acked"
		case hasOK:
			st = "late"
		case hasErr:
			st = "failed"
		case e.deadlineAt == nil || asOf.Before(*e.deadlineAt):
			st = "pending"
		default:
			st = "missing"
		}
		j.status[e.key] = st
		switch st {
		case "missing":
			j.open[simFindingKey{e.key, "missing"}] = true
			if e.key.domain == string(ledger.Orchestrator) && e.key.action == string(ledger.FinalizeRun) {
				j.open[simFindingKey{e.key, "stale"}] = true
			}
		case "failed":
			j.open[simFindingKey{e.key, "failed"}] = true
		}
		if e.deadlineAt == nil {
			j.open[simFindingKey{e.key, "invalid"}] = true
		}
	}
	for _, a := range acks {
		if !expected[a.key] {
			j.status[a.key] = "drift"
			j.open[simFindingKey{a.key, "drift"}] = true
		}
	}
	violated, pending := map[simRunKey]bool{}, map[simRunKey]bool{}
	for f := range j.open {
		violated[f.act.run] = true
	}
	for k, st := range j.status {
		if st == "pending" {
			pending[k.run] = true
		}
	}
	for k := range j.status {
		switch {
		case violated[k.run]:
			j.verdict[k.run] = reconciler.VerdictViolated
		case pending[k.run]:
			j.verdict[k.run] = reconciler.VerdictPending
		default:
			j.verdict[k.run] = reconciler.VerdictClean
		}
	}
	return j
}

// readLedger reads every committed expectation and ack (every transaction
// has ended when it is called).
func (s *sim) readLedger() ([]simExpRow, []simAckRow) {
	rows, err := s.pool.Query(s.ctx, `
		SELECT e.id, e.tx_id, t.name, e.run_id, c.domain, c.action, e.declared_at, e.deadline_at
		FROM rac.expectations e
		JOIN rac.tenants t ON t.id = e.tenant_id
		JOIN rac.contract_actions c ON c.id = e.action_id
		ORDER BY e.id`)
	if err != nil {
		s.fatalf("read expectations: %v", err)
	}
	var exps []simExpRow
	for rows.Next() {
		var e simExpRow
		if err := rows.Scan(&e.id, &e.txID, &e.key.run.tenant, &e.key.run.run, &e.key.domain, &e.key.action, &e.declaredAt, &e.deadlineAt); err != nil {
			s.fatalf("read expectations: %v", err)
		}
		exps = append(exps, e)
	}
	if err := rows.Err(); err != nil {
		s.fatalf("read expectations: %v", err)
	}
	rows, err = s.pool.Query(s.ctx, `
		SELECT a.id, a.tx_id, t.name, a.run_id, c.domain, c.action, a.acked_at, a.error, a.idempotency_key
		FROM rac.acks a
		JOIN rac.tenants t ON t.id = a.tenant_id
		JOIN rac.contract_actions c ON c.id = a.action_id
		ORDER BY a.id`)
	if err != nil {
		s.fatalf("read acks: %v", err)
	}
	var acks []simAckRow
	for rows.Next() {
		var a simAckRow
		if err := rows.Scan(&a.id, &a.txID, &a.key.run.tenant, &a.key.run.run, &a.key.domain, &a.key.action, &a.ackedAt, &a.err, &a.idemKey); err != nil {
			s.fatalf("read acks: %v", err)
		}
		acks = append(acks, a)
	}
	if err := rows.Err(); err != nil {
		s.fatalf("read acks: %v", err)
	}
	return exps, acks
}

func (s *sim) actName(k simActKey) string {
	return fmt.Sprintf("%s %s/%s", s.label(k.run), k.domain, k.action)
}

// compare checks rac.open_findings and rac.run_status against the oracle,
// reporting a diff (and, with dumps, the first differing runs in full).
func (s *sim) compare(asOf time.Time, when string, dumps bool) bool {
	exps, acks := s.readLedger()
	j := simJudge(exps, acks, asOf)

	gotOpen := map[simFindingKey]int{}
	rows, err := s.pool.Query(s.ctx, `SELECT tenant_id, run_id, domain, action, kind FROM rac.open_findings`)
	if err != nil {
		s.fatalf("read rac.open_findings: %v", err)
	}
	for rows.Next() {
		var f simFindingKey
		if err := rows.Scan(&f.act.run.tenant, &f.act.run.run, &f.act.domain, &f.act.action, &f.kind); err != nil {
			s.fatalf("read rac.open_findings: %v", err)
		}
		gotOpen[f]++
	}
	if err := rows.Err(); err != nil {
		s.fatalf("read rac.open_findings: %v", err)
	}
	gotVerdict := map[simRunKey][]string{}
	rows, err = s.pool.Query(s.ctx, `SELECT tenant_id, run_id, verdict FROM rac.run_status`)
	if err != nil {
		s.fatalf("read rac.run_status: %v", err)
	}
	for rows.Next() {
		var k simRunKey
		var v string
		if err := rows.Scan(&k.tenant, &k.run, &v); err != nil {
			s.fatalf("read rac.run_status: %v", err)
		}
		gotVerdict[k] = append(gotVerdict[k], v)
	}
	if err := rows.Err(); err != nil {
		s.fatalf("read rac.run_status: %v", err)
	}

	statusOf := func(k simActKey) string {
		if st, ok := j.status[k]; ok {
			return st
		}
		return "neither expected nor acked"
	}
	type diffLine struct {
		run  simRunKey
		sort string
		text string
		tag  string
	}
	var diff []diffLine
	findings := map[simFindingKey]bool{}
	for f := range j.open {
		findings[f] = true
	}
	for f := range gotOpen {
		findings[f] = true
	}
	for f := range findings {
		want, got := j.open[f], gotOpen[f]
		name := fmt.Sprintf("%s %s", s.actName(f.act), f.kind)
		switch {
		case want && got == 0:
			diff = append(diff, diffLine{f.act.run, name, fmt.Sprintf("open finding absent from rac.open_findings: %s (oracle status %s)", name, statusOf(f.act)),
				fmt.Sprintf("%s not open (status %s)", f.kind, statusOf(f.act))})
		case !want && got > 0:
			diff = append(diff, diffLine{f.act.run, name, fmt.Sprintf("unexpected in rac.open_findings: %s (oracle status %s)", name, statusOf(f.act)),
				fmt.Sprintf("%s open though status %s", f.kind, statusOf(f.act))})
		case got > 1:
			diff = append(diff, diffLine{f.act.run, name, fmt.Sprintf("rac.open_findings lists %s %d times", name, got), "duplicate open finding"})
		}
	}
	runs := map[simRunKey]bool{}
	for k := range j.verdict {
		runs[k] = true
	}
	for k := range gotVerdict {
		runs[k] = true
	}
	for k := range runs {
		want, got := j.verdict[k], gotVerdict[k]
		name := s.label(k)
		switch {
		case want == "":
			diff = append(diff, diffLine{k, name, fmt.Sprintf("rac.run_status lists %s (%v), which has no committed row", name, got), "run without rows listed"})
		case len(got) == 0:
			diff = append(diff, diffLine{k, name, fmt.Sprintf("rac.run_status does not list %s (oracle %s)", name, want), "run not listed"})
		case len(got) > 1:
			diff = append(diff, diffLine{k, name, fmt.Sprintf("rac.run_status lists %s %d times: %v (oracle %s)", name, len(got), got, want), "run listed twice"})
		case got[0] != want:
			diff = append(diff, diffLine{k, name, fmt.Sprintf("verdict of %s: oracle %s, rac.run_status %s", name, want, got[0]),
				fmt.Sprintf("verdict %s instead of %s", got[0], want)})
		}
	}
	if len(diff) == 0 {
		s.t.Logf("seed %d: %s: %d open findings and %d run verdicts agree with one pass over %d expectations and %d acks",
			s.seed, when, len(j.open), len(j.verdict), len(exps), len(acks))
		return true
	}
	sort.Slice(diff, func(a, b int) bool { return diff[a].sort < diff[b].sort })
	tally := map[string]int{}
	for _, d := range diff {
		tally[d.tag]++
	}
	var tallies []string
	for k, n := range tally {
		tallies = append(tallies, fmt.Sprintf("%s x%d", k, n))
	}
	sort.Strings(tallies)

	var b strings.Builder
	fmt.Fprintf(&b, "seed %d (rerun: RAC_SIM_SEED=%d RAC_SIM_STEPS=%d): %s, rac.open_findings and rac.run_status differ from one pass over the committed rows (%d expectations, %d acks; oracle: %d open findings, %d runs): %d differences: %s\n",
		s.seed, s.seed, s.steps, when, len(exps), len(acks), len(j.open), len(j.verdict), len(diff), strings.Join(tallies, ", "))
	for i, d := range diff {
		if i == simDiffLines {
			fmt.Fprintf(&b, "  ... and %d more\n", len(diff)-i)
			break
		}
		fmt.Fprintf(&b, "  %s\n", d.text)
	}
	if dumps {
		var bad []simRunKey
		for _, d := range diff {
			if !slices.Contains(bad, d.run) {
				bad = append(bad, d.run)
			}
		}
		for _, k := range bad[:min(len(bad), simDumpRuns)] {
			s.dumpRun(&b, k, j, exps, acks, gotVerdict[k])
		}
	}
	s.t.Error(b.String())
	return false
}

// dumpRun writes everything about one run: its rows, the oracle's view,
// its findings and verdict history, and the scheduler events around it.
func (s *sim) dumpRun(b *strings.Builder, k simRunKey, j simJudgment, exps []simExpRow, acks []simAckRow, got []string) {
	fmt.Fprintf(b, "--- %s (tenant %s, run %s): oracle verdict %q, rac.run_status %v\n", s.label(k), k.tenant, k.run, j.verdict[k], got)
	fmt.Fprintf(b, "  expectations:\n")
	for _, e := range exps {
		if e.key.run == k {
			fmt.Fprintf(b, "    id %d tx %d %s/%s declared %s deadline %s: oracle %s\n",
				e.id, e.txID, e.key.domain, e.key.action, simTime(e.declaredAt), simTimePtr(e.deadlineAt), j.status[e.key])
		}
	}
	fmt.Fprintf(b, "  acks:\n")
	for _, a := range acks {
		if a.key.run == k {
			fmt.Fprintf(b, "    id %d tx %d %s/%s acked_at %s error %s idempotency_key %s\n",
				a.id, a.txID, a.key.domain, a.key.action, simTime(a.ackedAt), simText(a.err), simText(a.idemKey))
		}
	}
	for key, st := range j.status {
		if key.run == k && st == "drift" {
			fmt.Fprintf(b, "    (%s/%s: acked, never expected: drift)\n", key.domain, key.action)
		}
	}
	fmt.Fprintf(b, "  oracle open findings:")
	var open []string
	for f := range j.open {
		if f.act.run == k {
			open = append(open, fmt.Sprintf("%s/%s:%s", f.act.domain, f.act.action, f.kind))
		}
	}
	sort.Strings(open)
	fmt.Fprintf(b, " %v\n", open)

	fmt.Fprintf(b, "  rac.findings_history:\n")
	rows, err := s.pool.Query(s.ctx, `
		SELECT finding_id, domain, action, kind, violated_at, detected_at, reconciliation_id,
		       resolution, resolved_at, resolution_recorded_at, resolved_by_ack_id
		FROM rac.findings_history WHERE tenant_id = $1 AND run_id = $2 ORDER BY finding_id`, k.tenant, k.run)
	if err != nil {
		s.fatalf("read rac.findings_history: %v", err)
	}
	for rows.Next() {
		var (
			id, recID          int64
			domain, action     string
			kind               string
			violated, detected time.Time
			resolution         *string
			resolved, recorded *time.Time
			ackID              *int64
		)
		if err := rows.Scan(&id, &domain, &action, &kind, &violated, &detected, &recID, &resolution, &resolved, &recorded, &ackID); err != nil {
			s.fatalf("read rac.findings_history: %v", err)
		}
		ack := "NULL"
		if ackID != nil {
			ack = strconv.FormatInt(*ackID, 10)
		}
		fmt.Fprintf(b, "    finding %d %s/%s %s violated_at %s detected_at %s (reconciliation %d) resolution %s resolved_at %s resolution_recorded_at %s ack %s\n",
			id, domain, action, kind, simTime(violated), simTime(detected), recID, simText(resolution), simTimePtr(resolved), simTimePtr(recorded), ack)
	}
	if err := rows.Err(); err != nil {
		s.fatalf("read rac.findings_history: %v", err)
	}
	rows, err = s.pool.Query(s.ctx, `
		SELECT v.seq, v.verdict, v.recorded_at, v.reconciliation_id
		FROM rac.run_verdicts v JOIN rac.tenants t ON t.id = v.tenant_id
		WHERE t.name = $1 AND v.run_id = $2 ORDER BY v.seq`, k.tenant, k.run)
	if err != nil {
		s.fatalf("read rac.run_verdicts: %v", err)
	}
	var verdicts []string
	for rows.Next() {
		var (
			seq     int
			verdict string
			at      time.Time
			recID   int64
		)
		if err := rows.Scan(&seq, &verdict, &at, &recID); err != nil {
			s.fatalf("read rac.run_verdicts: %v", err)
		}
		verdicts = append(verdicts, fmt.Sprintf("%d:%s at %s (reconciliation %d)", seq, verdict, simTime(at), recID))
	}
	if err := rows.Err(); err != nil {
		s.fatalf("read rac.run_verdicts: %v", err)
	}
	fmt.Fprintf(b, "  rac.run_verdicts: %v\n", verdicts)

	// Events of the transactions that touched the run, and the passes and
	// idle sessions from the first of them on (database clock estimated
	// from the test's start).
	// Consecutive passes without candidates are shown as one line.
	var lines []string
	first := -1
	var noops []simEvent
	flush := func() {
		switch len(noops) {
		case 0:
		case 1:
			e := noops[0]
			lines = append(lines, fmt.Sprintf("    step %d ~%s %s", e.step, s.dbStart.Add(e.at).Format("15:04:05.000"), e.text))
		default:
			e := noops[len(noops)-1]
			lines = append(lines, fmt.Sprintf("    steps %d-%d: %d passes without candidates, the last %s", noops[0].step, e.step, len(noops), e.text))
		}
		noops = noops[:0]
	}
	for i, e := range s.events {
		mine := slices.Contains(e.runs, k)
		if mine && first < 0 {
			first = i
		}
		if !mine && (e.runs != nil || first < 0) {
			continue
		}
		if e.noop {
			noops = append(noops, e)
			continue
		}
		flush()
		lines = append(lines, fmt.Sprintf("    step %d ~%s %s", e.step, s.dbStart.Add(e.at).Format("15:04:05.000"), e.text))
	}
	flush()
	fmt.Fprintf(b, "  events (%d):\n", len(lines))
	if len(lines) > simEventLines {
		head := simEventLines * 3 / 4
		tail := simEventLines - head
		skipped := len(lines) - head - tail
		lines = append(append(lines[:head:head], fmt.Sprintf("    ... %d events ...", skipped)), lines[len(lines)-tail:]...)
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
}

// simHistoryRow is one resolved row of rac.findings_history.
type simHistoryRow struct {
	findingID            int64
	run                  simRunKey
	domain, action, kind string
	violatedAt           time.Time
	detectedAt           time.Time
	resolution           string
	resolvedAt           time.Time
	recordedAt           time.Time
}

// simHistoryViolations checks resolved findings: a resolution is recorded
// no earlier than its finding was detected and, with
// checkResolvedAfterViolated, resolves it no earlier than it was violated.
func simHistoryViolations(rows []simHistoryRow, label func(simRunKey) string) []string {
	var out []string
	for _, r := range rows {
		name := fmt.Sprintf("finding %d (%s %s/%s %s, resolution %s)", r.findingID, label(r.run), r.domain, r.action, r.kind, r.resolution)
		if r.recordedAt.Before(r.detectedAt) {
			out = append(out, fmt.Sprintf("%s: resolution_recorded_at %s before detected_at %s", name, simTime(r.recordedAt), simTime(r.detectedAt)))
		}
		if checkResolvedAfterViolated && r.resolvedAt.Before(r.violatedAt) {
			out = append(out, fmt.Sprintf("%s: resolved_at %s before violated_at %s", name, simTime(r.resolvedAt), simTime(r.violatedAt)))
		}
	}
	return out
}

func (s *sim) checkHistory() {
	rows, err := s.pool.Query(s.ctx, `
		SELECT finding_id, tenant_id, run_id, domain, action, kind, violated_at, detected_at,
		       resolution, resolved_at, resolution_recorded_at
		FROM rac.findings_history WHERE resolution IS NOT NULL ORDER BY finding_id`)
	if err != nil {
		s.fatalf("read rac.findings_history: %v", err)
	}
	var hist []simHistoryRow
	for rows.Next() {
		var r simHistoryRow
		if err := rows.Scan(&r.findingID, &r.run.tenant, &r.run.run, &r.domain, &r.action, &r.kind, &r.violatedAt, &r.detectedAt,
			&r.resolution, &r.resolvedAt, &r.recordedAt); err != nil {
			s.fatalf("read rac.findings_history: %v", err)
		}
		hist = append(hist, r)
	}
	if err := rows.Err(); err != nil {
		s.fatalf("read rac.findings_history: %v", err)
	}
	bad := simHistoryViolations(hist, s.label)
	if len(bad) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d (rerun: RAC_SIM_SEED=%d RAC_SIM_STEPS=%d): %d of %d resolutions break the history rules:\n", s.seed, s.seed, s.steps, len(bad), len(hist))
	for i, l := range bad {
		if i == simDiffLines {
			fmt.Fprintf(&b, "  ... and %d more\n", len(bad)-i)
			break
		}
		fmt.Fprintf(&b, "  %s\n", l)
	}
	s.t.Error(b.String())
}

// Script generation. Every choice comes from s.rng and from the
// scheduler's own model of what was declared, never from the database, so
// a seed replays the same scripts.

// declaredActs returns the actions of r declared by committed transactions
// (and, with open, by open ones), in simActions order, with deadlines.
func (s *sim) declaredActs(r *simRun, open bool) ([]simAction, map[simAction]time.Duration) {
	d := map[simAction]time.Duration{}
	var out []simAction
	for _, a := range simActions {
		k := simDeclKey{r.key, a}
		if dl, ok := s.committed[k]; ok {
			d[a] = dl
			out = append(out, a)
			continue
		}
		if !open {
			continue
		}
		for _, st := range s.slots {
			if st == nil {
				continue
			}
			if dl, ok := st.declared[k]; ok {
				d[a] = dl
				out = append(out, a)
				break
			}
		}
	}
	return out, d
}

// pickRun returns a random run, preferring (a few tries) one that pref
// accepts.
func (s *sim) pickRun(pref func(*simRun) bool) *simRun {
	var r *simRun
	for range 6 {
		r = s.runs[s.rng.IntN(len(s.runs))]
		if pref == nil || pref(r) {
			return r
		}
	}
	return r
}

func (s *sim) undeclared(r *simRun) bool {
	acts, _ := s.declaredActs(r, true)
	return len(acts) == 0
}

func (s *sim) hasDeclared(r *simRun) bool {
	acts, _ := s.declaredActs(r, true)
	return len(acts) > 0
}

func (s *sim) hasCommitted(r *simRun) bool {
	acts, _ := s.declaredActs(r, false)
	return len(acts) > 0
}

func (s *sim) errMaybe(p float64) string {
	if s.chance(p) {
		return simErrors[s.rng.IntN(len(simErrors))]
	}
	return ""
}

func (s *sim) newKey() string {
	s.keySeq++
	return fmt.Sprintf("k%d", s.keySeq)
}

func (s *sim) keyMaybe(p float64) string {
	if s.chance(p) {
		return s.newKey()
	}
	return ""
}

func (s *sim) ackOf(r *simRun, a simAction, errText, key string) ledger.Ack {
	ack := ledger.Ack{RunID: r.key.run, Domain: a.domain, Action: a.action, Error: errText, IdempotencyKey: key}
	if s.chance(0.3) {
		ack.ResultID = fmt.Sprintf("res-%d", s.rng.IntN(1000))
	}
	return ack
}

func ackWrite(r *simRun, acks ...ledger.Ack) simWrite { return simWrite{run: r, acks: acks} }

func expectWrite(r *simRun, exps ...ledger.Expectation) simWrite {
	return simWrite{run: r, exps: slices.Clone(exps)}
}

// ackableActs is what an ack script acks: mostly declared actions.
func (s *sim) ackableActs(r *simRun) []simAction {
	acts, _ := s.declaredActs(r, true)
	if len(acts) == 0 || s.chance(0.2) {
		return simActions
	}
	return acts
}

func (s *sim) genScript() *simScript {
	kinds := []struct {
		weight int
		gen    func() *simScript
	}{
		{28, func() *simScript { return s.declareScript(s.pickRun(s.undeclared)) }},
		{20, func() *simScript { return s.acksScript(s.pickAckRun()) }},
		{8, func() *simScript { return s.errorThenSuccess(s.pickAckRun(), false) }},
		{5, func() *simScript { return s.errorThenSuccess(s.pickAckRun(), true) }},
		{8, func() *simScript { return s.retryScript(s.pickAckRun()) }},
		{4, func() *simScript { return s.keylessDuplicate(s.pickAckRun()) }},
		{9, func() *simScript { return s.driftScript() }},
		{6, func() *simScript { return s.redeclareScript() }},
		{10, func() *simScript { return s.slowAckScript() }},
		{6, func() *simScript { return s.mixedScript() }},
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	n := s.rng.IntN(total)
	var sc *simScript
	for _, k := range kinds {
		if n < k.weight {
			sc = k.gen()
			break
		}
		n -= k.weight
	}
	if sc.hold == 0 && s.chance(0.08) {
		sc.hold = 20 + s.rng.IntN(60)
		sc.minPasses = 1
		sc.kind += "+held"
	}
	return sc
}

func (s *sim) pickAckRun() *simRun {
	if s.chance(0.75) {
		return s.pickRun(s.hasDeclared)
	}
	return s.pickRun(nil)
}

// declareScript declares all or some of r's standard run, sometimes in two
// calls, sometimes with some of its acks (before or after) in the same
// transaction.
func (s *sim) declareScript(r *simRun) *simScript {
	exps := ledger.StandardRun(r.deadline)
	if s.chance(0.5) {
		exps = slices.DeleteFunc(exps, func(ledger.Expectation) bool { return !s.chance(0.7) })
		if len(exps) == 0 {
			exps = ledger.StandardRun(r.deadline)[s.rng.IntN(len(simActions)):][:1]
		}
	}
	if s.chance(0.1) {
		exps[s.rng.IntN(len(exps))].Deadline += time.Duration(1+s.rng.IntN(6)) * 50 * time.Millisecond
	}
	sc := &simScript{kind: "declare"}
	if len(exps) > 1 && s.chance(0.2) {
		cut := 1 + s.rng.IntN(len(exps)-1)
		sc.writes = []simWrite{expectWrite(r, exps[:cut]...), expectWrite(r, exps[cut:]...)}
	} else {
		sc.writes = []simWrite{expectWrite(r, exps...)}
	}
	if s.chance(0.5) {
		var acks []simWrite
		for _, e := range exps {
			if s.chance(0.5) {
				acks = append(acks, ackWrite(r, s.ackOf(r, simAction{e.Domain, e.Action}, s.errMaybe(0.15), s.keyMaybe(0.25))))
			}
		}
		if len(acks) > 0 {
			sc.kind = "declare+acks"
			if s.chance(0.2) {
				sc.kind = "acks+declare"
				sc.writes = append(acks, sc.writes...)
			} else {
				sc.writes = append(sc.writes, acks...)
			}
		}
	}
	return sc
}

// acksScript acks one to three actions of r, in one call or several.
func (s *sim) acksScript(r *simRun) *simScript {
	acts := s.ackableActs(r)
	n := 1 + s.rng.IntN(min(3, len(acts)))
	var acks []ledger.Ack
	for _, i := range s.rng.Perm(len(acts))[:n] {
		acks = append(acks, s.ackOf(r, acts[i], s.errMaybe(0.15), s.keyMaybe(0.25)))
	}
	sc := &simScript{kind: "acks"}
	if len(acks) > 1 && s.chance(0.3) {
		sc.kind = "ack batch"
		sc.writes = []simWrite{ackWrite(r, acks...)}
		return sc
	}
	for _, a := range acks {
		sc.writes = append(sc.writes, ackWrite(r, a))
	}
	return sc
}

// errorThenSuccess reports an error and later, in another transaction, a
// success (or the reverse).
func (s *sim) errorThenSuccess(r *simRun, reverse bool) *simScript {
	acts := s.ackableActs(r)
	a := acts[s.rng.IntN(len(acts))]
	errText := simErrors[s.rng.IntN(len(simErrors))]
	first, second := errText, ""
	kind, next := "error ack", "success after error"
	if reverse {
		first, second = "", errText
		kind, next = "success ack", "error after success"
	}
	return &simScript{
		kind:   kind,
		writes: []simWrite{ackWrite(r, s.ackOf(r, a, first, s.keyMaybe(0.3)))},
		followUps: []simFollowUp{{delay: s.rng.IntN(30), script: &simScript{
			kind:   next,
			writes: []simWrite{ackWrite(r, s.ackOf(r, a, second, s.keyMaybe(0.3)))},
		}}},
	}
}

// retryScript acks with an idempotency key and retries it with the same
// key in later transactions (no-ops).
func (s *sim) retryScript(r *simRun) *simScript {
	acts := s.ackableActs(r)
	a := acts[s.rng.IntN(len(acts))]
	ack := s.ackOf(r, a, s.errMaybe(0.2), s.newKey())
	sc := &simScript{kind: "keyed ack", writes: []simWrite{ackWrite(r, ack)}}
	for range 1 + s.rng.IntN(2) {
		retry := ack
		if s.chance(0.3) { // a retry that reports differently is still the same key
			retry.Error = s.errMaybe(0.5)
		}
		sc.followUps = append(sc.followUps, simFollowUp{delay: s.rng.IntN(40), script: &simScript{
			kind: "keyed retry", writes: []simWrite{ackWrite(r, retry)},
		}})
	}
	return sc
}

// keylessDuplicate writes the same keyless ack twice, in one transaction
// or two.
func (s *sim) keylessDuplicate(r *simRun) *simScript {
	acts := s.ackableActs(r)
	ack := s.ackOf(r, acts[s.rng.IntN(len(acts))], s.errMaybe(0.1), "")
	sc := &simScript{kind: "keyless duplicate", writes: []simWrite{ackWrite(r, ack)}}
	if s.chance(0.5) {
		sc.writes = append(sc.writes, ackWrite(r, ack))
	} else {
		sc.followUps = []simFollowUp{{delay: s.rng.IntN(30), script: &simScript{kind: "keyless repeat", writes: []simWrite{ackWrite(r, ack)}}}}
	}
	return sc
}

// driftScript acks an action nobody declared, sometimes declared later.
func (s *sim) driftScript() *simScript {
	var r *simRun
	var free []simAction
	for range 6 {
		r = s.runs[s.rng.IntN(len(s.runs))]
		acts, _ := s.declaredActs(r, true)
		free = slices.DeleteFunc(slices.Clone(simActions), func(a simAction) bool { return slices.Contains(acts, a) })
		if len(free) > 0 {
			break
		}
	}
	if len(free) == 0 {
		free = simActions
	}
	a := free[s.rng.IntN(len(free))]
	sc := &simScript{kind: "drift ack", writes: []simWrite{ackWrite(r, s.ackOf(r, a, s.errMaybe(0.2), s.keyMaybe(0.2)))}}
	if s.chance(0.4) {
		exps := []ledger.Expectation{{Domain: a.domain, Action: a.action, Deadline: r.deadline}}
		if s.chance(0.5) {
			exps = ledger.StandardRun(r.deadline)
		}
		sc.followUps = []simFollowUp{{delay: 5 + s.rng.IntN(40), script: &simScript{kind: "declaration after drift", writes: []simWrite{expectWrite(r, exps...)}}}}
	}
	return sc
}

// redeclareScript declares again what was declared: the same deadline is a
// no-op, another one ErrConflict (the whole call is refused).
func (s *sim) redeclareScript() *simScript {
	r := s.pickRun(s.hasCommitted)
	acts, deadlines := s.declaredActs(r, false)
	if len(acts) == 0 {
		return s.declareScript(r)
	}
	var exps []ledger.Expectation
	for _, a := range acts {
		if s.chance(0.6) {
			exps = append(exps, ledger.Expectation{Domain: a.domain, Action: a.action, Deadline: deadlines[a]})
		}
	}
	if len(exps) == 0 {
		a := acts[s.rng.IntN(len(acts))]
		exps = append(exps, ledger.Expectation{Domain: a.domain, Action: a.action, Deadline: deadlines[a]})
	}
	kind := "redeclare same deadline"
	if s.chance(0.6) {
		kind = "redeclare other deadline"
		i := s.rng.IntN(len(exps))
		delta := time.Duration(1+s.rng.IntN(5)) * 50 * time.Millisecond
		if exps[i].Deadline > 200*time.Millisecond && s.chance(0.5) {
			delta = -50 * time.Millisecond
		}
		exps[i].Deadline += delta
	}
	if s.chance(0.3) {
		for _, a := range simActions {
			if !slices.Contains(acts, a) {
				exps = append(exps, ledger.Expectation{Domain: a.domain, Action: a.action, Deadline: r.deadline})
				break
			}
		}
	}
	sc := &simScript{kind: kind, writes: []simWrite{expectWrite(r, exps...)}}
	if s.chance(0.3) {
		e := exps[s.rng.IntN(len(exps))]
		sc.writes = append(sc.writes, ackWrite(r, s.ackOf(r, simAction{e.Domain, e.Action}, s.errMaybe(0.2), "")))
	}
	return sc
}

// slowAckScript writes an ack at once (on time) in a transaction held
// open for many steps and passes, past the deadline. Sometimes the run is
// declared only after the ack was written, by a companion transaction that
// commits while the ack's is open: the ack's transaction then holds the
// lower transaction id.
func (s *sim) slowAckScript() *simScript {
	if s.chance(0.5) {
		r := s.pickRun(s.undeclared)
		// A short deadline, so that it passes while the ack's
		// transaction is held open.
		exps := ledger.StandardRun(time.Duration(150+50*s.rng.IntN(5)) * time.Millisecond)
		sc := &simScript{kind: "early slow ack", hold: 40 + s.rng.IntN(80), minPasses: 2}
		var acked []ledger.Expectation
		for _, i := range s.rng.Perm(len(exps))[:1+s.rng.IntN(2)] {
			acked = append(acked, exps[i])
			sc.writes = append(sc.writes, ackWrite(r, s.ackOf(r, simAction{exps[i].Domain, exps[i].Action}, "", s.keyMaybe(0.3))))
		}
		if s.chance(0.6) { // only what was acked: every expectation of the run is acked on time
			exps = acked
		}
		sc.companions = []simFollowUp{{delay: s.rng.IntN(4), script: &simScript{
			kind: "declaration during an early ack", writes: []simWrite{expectWrite(r, exps...)},
		}}}
		return sc
	}
	r := s.pickRun(s.hasCommitted)
	acts := s.ackableActs(r)
	a := acts[s.rng.IntN(len(acts))]
	sc := &simScript{
		kind:      "slow ack",
		writes:    []simWrite{ackWrite(r, s.ackOf(r, a, "", s.keyMaybe(0.3)))},
		hold:      40 + s.rng.IntN(80),
		minPasses: 2,
	}
	if s.chance(0.3) {
		b := acts[s.rng.IntN(len(acts))]
		sc.writes = append(sc.writes, ackWrite(r, s.ackOf(r, b, s.errMaybe(0.5), "")))
	}
	return sc
}

// mixedScript touches two runs in one transaction.
func (s *sim) mixedScript() *simScript {
	a := s.declareScript(s.pickRun(s.undeclared))
	var b *simScript
	if s.chance(0.5) {
		b = s.acksScript(s.pickAckRun())
	} else {
		b = s.driftScript()
	}
	return &simScript{
		kind:      "mixed",
		writes:    append(a.writes, b.writes...),
		followUps: append(a.followUps, b.followUps...),
	}
}
