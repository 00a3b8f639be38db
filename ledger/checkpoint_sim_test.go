package ledger_test

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// simEvent is one step of a simulated run: a domain transaction begins,
// writes an ack, commits or rolls back; the orchestrator takes its
// snapshot, checks, commits.
type simEvent struct {
	tx   int // index into the run's transactions; -1 is the orchestrator
	kind string
}

// TestCheckpointSimulation runs many runs whose domain transactions ack
// (successes, failures, drift) and commit or roll back in a random order
// around the orchestrator's checkpoint (READ COMMITTED or REPEATABLE READ
// with its snapshot taken at a random moment), then checks, from the rows
// alone:
//   - the check's outcome and unmet items are a from-scratch judgment of
//     exactly the rows its recorded snapshot saw, plus its own;
//   - nothing it judged met is unmet once every transaction has finished
//     (it never blessed what the evidence later contradicts);
//   - what it did not see is what rac.governance_unseen lists;
//   - the reconciler finds clean every run that passed with nothing unseen.
//
// RAC_SIM_SEED replays a seed; the seed is printed on failure.
func TestCheckpointSimulation(t *testing.T) {
	t.Parallel()
	rng, seed := simRand(t)
	g := setupGov(t)
	_, err := g.admin.Exec(g.ctx, `INSERT INTO rac.contract_actions (domain, action) VALUES ('policies', 'extra_review')`)
	require.NoError(t, err)
	rec, err := reconciler.New(g.admin, reconciler.Options{})
	require.NoError(t, err)
	now := ledgertest.Now(t, g.admin)

	type ackSpec struct {
		domain ledger.Domain
		action ledger.Action
		err    string
	}
	all := []ackSpec{
		{ledger.Incidents, ledger.CreateIncident, ""}, {ledger.Policies, ledger.EvaluatePolicy, ""},
		{ledger.Logs, ledger.StartTrace, ""}, {ledger.Logs, ledger.CompleteTrace, ""}, {ledger.Policies, "extra_review", ""},
	}
	const runs = 40
	var passedClean []uuid.UUID
	outcomes := map[string]int{}
	for r := 0; r < runs; r++ {
		run := uuid.New()
		fail := func(format string, args ...any) string {
			return fmt.Sprintf("seed %d run %d (%s): ", seed, r, run) + fmt.Sprintf(format, args...)
		}
		// Declare the standard run, sometimes without one of its actions
		// (whose acks are then drift); extra_review is never declared.
		declared := map[ledger.Action]bool{}
		for i, e := range ledger.StandardRun(time.Hour) {
			if i < 4 && rng.IntN(12) == 0 {
				continue
			}
			declared[e.Action] = true
			ledgertest.Declare(t, g.admin, "default", run, e.Domain, e.Action, now, time.Hour)
		}
		// Domain transactions: each action acked by 0-2 transactions.
		var specs []ackSpec
		for _, s := range all {
			n := 1 + rng.IntN(2)
			if !declared[s.action] {
				n = rng.IntN(2) * rng.IntN(2)
			}
			for range n {
				s.err = ""
				if rng.IntN(8) == 0 {
					s.err = "domain failure"
				}
				specs = append(specs, s)
			}
		}
		// Events: per domain tx begin, write, end (commit 3 in 4); for the
		// orchestrator snapshot (RR only), check, commit. Random
		// interleaving, each transaction's own order kept.
		rr := rng.IntN(2) == 0
		policy := ledger.RefuseUnmet
		if rng.IntN(3) == 0 {
			policy = ledger.FinalizeWithExceptions
		}
		queues := make([][]simEvent, len(specs)+1)
		for i := range specs {
			end := "commit"
			if rng.IntN(8) == 0 {
				end = "rollback"
			}
			queues[i] = []simEvent{{i, "begin"}, {i, "write"}, {i, end}}
		}
		orch := []simEvent{{-1, "check"}, {-1, "commit"}}
		if rr {
			orch = append([]simEvent{{-1, "snapshot"}}, orch...)
		}
		queues[len(specs)] = orch
		// The orchestrator waits until a random share of the domain events
		// (skewed late) has happened, so both outcomes are common.
		domainEvents, done := 3*len(specs), 0
		holdUntil := int(math.Sqrt(rng.Float64()) * float64(domainEvents))
		var events []simEvent
		for {
			var open []int
			for i, q := range queues {
				if len(q) > 0 && (i < len(specs) || done >= holdUntil) {
					open = append(open, i)
				}
			}
			if len(open) == 0 {
				break
			}
			i := open[rng.IntN(len(open))]
			if i < len(specs) {
				done++
			}
			events = append(events, queues[i][0])
			queues[i] = queues[i][1:]
		}

		txs := make([]pgx.Tx, len(specs))
		iso := pgx.ReadCommitted
		if rr {
			iso = pgx.RepeatableRead
		}
		orchTx := g.begin(t, iso)
		var res *ledger.CheckResult
		for _, ev := range events {
			if ev.tx < 0 {
				switch ev.kind {
				case "snapshot":
					_, err := orchTx.Exec(g.ctx, `SELECT 1`)
					require.NoError(t, err)
				case "check":
					res, err = g.l.Checkpoint(g.ctx, orchTx, run, ledger.CheckpointOptions{Policy: policy})
					if err != nil {
						require.ErrorIs(t, err, ledger.ErrUnmet, fail("checkpoint"))
					}
				case "commit":
					require.NoError(t, orchTx.Commit(g.ctx))
				}
				continue
			}
			s := specs[ev.tx]
			switch ev.kind {
			case "begin":
				txs[ev.tx] = g.begin(t, pgx.ReadCommitted)
			case "write":
				require.NoError(t, g.l.Ack(g.ctx, txs[ev.tx], ledger.Ack{RunID: run, Domain: s.domain, Action: s.action, ResultID: "r", Error: s.err}))
			case "commit":
				require.NoError(t, txs[ev.tx].Commit(g.ctx))
			case "rollback":
				require.NoError(t, txs[ev.tx].Rollback(g.ctx))
			}
		}

		// The check as recorded, and every row of the run with whether the
		// check's snapshot saw it (visibility only; the judgment is Go's).
		var outcome, unmetJSON string
		var checkedAt time.Time
		require.NoError(t, g.admin.QueryRow(g.ctx, `
			SELECT outcome, unmet::text, checked_at FROM rac.governance_checks WHERE run_id = $1`, run).
			Scan(&outcome, &unmetJSON, &checkedAt))
		require.Equal(t, res.Outcome, outcome, fail("recorded outcome"))
		outcomes[outcome]++
		var recorded []struct{ Domain, Action, Status string }
		require.NoError(t, json.Unmarshal([]byte(unmetJSON), &recorded))
		var recordedUnmet []string
		for _, u := range recorded {
			recordedUnmet = append(recordedUnmet, u.Domain+"/"+u.Action+": "+u.Status)
		}
		sort.Strings(recordedUnmet)
		require.Equal(t, unmetStrings(res.Unmet), nilIfEmpty(recordedUnmet), fail("recorded unmet"))

		rows, err := g.admin.Query(g.ctx, `
			SELECT x.kind, c.domain || '/' || c.action, x.at, x.deadline_at, x.failed,
			       x.tx_id = g.tx_id OR pg_visible_in_snapshot(x.tx_id::text::xid8, g.snapshot::pg_snapshot)
			FROM rac.governance_checks g,
			     LATERAL (SELECT 'expectation' AS kind, e.action_id, e.tx_id, e.declared_at AS at, e.deadline_at, false AS failed
			              FROM rac.expectations e WHERE e.run_id = g.run_id
			              UNION ALL
			              SELECT 'ack', a.action_id, a.tx_id, a.acked_at, NULL, a.error IS NOT NULL
			              FROM rac.acks a WHERE a.run_id = g.run_id) x
			JOIN rac.contract_actions c ON c.id = x.action_id
			WHERE g.run_id = $1`, run)
		require.NoError(t, err)
		var seen, everything []simRow
		unseen := 0
		for rows.Next() {
			var row simRow
			var visible bool
			require.NoError(t, rows.Scan(&row.kind, &row.key, &row.at, &row.deadline, &row.failed, &visible))
			everything = append(everything, row)
			if visible {
				seen = append(seen, row)
			} else {
				unseen++
			}
		}
		require.NoError(t, rows.Err())

		judged := judgeFromScratch(seen, checkedAt)
		require.Equal(t, judged.unmet(), unmetStrings(res.Unmet), fail("the check is a judgment of what its snapshot saw"))
		final := judgeFromScratch(everything, checkedAt)
		for key, st := range judged {
			if st == "acked" || st == "late" {
				require.Contains(t, []string{"acked", "late"}, final[key], fail("%s was met at the check", key))
			}
		}
		var listed int
		require.NoError(t, g.admin.QueryRow(g.ctx, `SELECT count(*) FROM rac.governance_unseen WHERE run_id = $1`, run).Scan(&listed))
		if res.Finalized() {
			require.Equal(t, unseen, listed, fail("rac.governance_unseen"))
			if unseen == 0 && res.Outcome == ledger.OutcomePassed {
				passedClean = append(passedClean, run)
			}
		}
	}

	ledgertest.Pass(t, g.admin, rec)
	for _, run := range passedClean {
		var verdict string
		require.NoError(t, g.admin.QueryRow(g.ctx, `SELECT verdict FROM rac.run_status WHERE run_id = $1`, run).Scan(&verdict))
		require.Equal(t, "clean", verdict, "seed %d run %s: the reconciler agrees with the checkpoint", seed, run)
	}
	t.Logf("%d runs: %v; %d finalized with nothing unseen", runs, outcomes, len(passedClean))
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return []string{}
	}
	return s
}

type simRow struct {
	kind, key string
	at        time.Time
	deadline  *time.Time
	failed    bool
}

// simJudgment maps "domain/action" to its status, finalize_run as the
// checkpoint judges it (only when unmet).
type simJudgment map[string]string

func (j simJudgment) unmet() []string {
	out := []string{}
	for k, s := range j {
		if s != "acked" && s != "late" {
			out = append(out, k+": "+s)
		}
	}
	sort.Strings(out)
	return out
}

// judgeFromScratch applies the status table of docs/auditor-guide.md (grace
// 0, as of asOf) to rows, written here again without SQL.
func judgeFromScratch(rows []simRow, asOf time.Time) simJudgment {
	const finalize = "orchestrator/finalize_run"
	type acc struct {
		expected         bool
		deadline         *time.Time
		success, failure *time.Time
	}
	by := map[string]*acc{}
	get := func(k string) *acc {
		if by[k] == nil {
			by[k] = &acc{}
		}
		return by[k]
	}
	for _, r := range rows {
		a := get(r.key)
		at := r.at
		switch {
		case r.kind == "expectation":
			a.expected, a.deadline = true, r.deadline
		case r.failed:
			if a.failure == nil || at.Before(*a.failure) {
				a.failure = &at
			}
		default:
			if a.success == nil || at.Before(*a.success) {
				a.success = &at
			}
		}
	}
	out := simJudgment{}
	for k, a := range by {
		if k == finalize {
			continue
		}
		switch {
		case !a.expected:
			out[k] = "drift"
		case a.deadline == nil:
			out[k] = "invalid"
		case a.success != nil && !a.success.After(*a.deadline):
			out[k] = "acked"
		case a.success != nil:
			out[k] = "late"
		case a.failure != nil:
			out[k] = "failed"
		case asOf.Before(*a.deadline):
			out[k] = "pending"
		default:
			out[k] = "missing"
		}
	}
	if f := by[finalize]; f == nil || !f.expected {
		out[finalize] = "drift"
	}
	return out
}
