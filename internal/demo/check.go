package demo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// maxExamples bounds the mismatched findings a Check lists.
const maxExamples = 10

// Count compares what was injected with what the reconciler found, for one
// finding kind or one verdict.
type Count struct {
	Name     string
	Injected int
	Found    int
	// Note explains how Injected was counted, when that is not obvious.
	Note string
}

// Check is the comparison of the injected faults with the reconciler's
// findings and verdicts for the demo's runs.
type Check struct {
	// Counts lists the finding kinds (in Faults order), then the runs by
	// verdict.
	Counts []Count
	// Unexpected lists findings recorded but not injected, Unfound findings
	// injected but not recorded; at most maxExamples each, with the totals
	// beside them.
	Unexpected, Unfound           []Finding
	UnexpectedTotal, UnfoundTotal int
}

// Differ returns the names of the counts that differ.
func (c Check) Differ() []string {
	var out []string
	for _, n := range c.Counts {
		if n.Injected != n.Found {
			out = append(out, n.Name)
		}
	}
	return out
}

// OK reports whether the reconciler found exactly what was injected: every
// count matches and so does every individual finding.
func (c Check) OK() bool {
	return len(c.Differ()) == 0 && c.UnexpectedTotal == 0 && c.UnfoundTotal == 0
}

// check reads the demo runs' open and late findings and their verdicts and
// compares them with the plan.
func (s *sim) check(ctx context.Context, runs []PlannedRun) (Check, error) {
	var c Check
	found, err := s.foundFindings(ctx)
	if err != nil {
		return c, err
	}
	verdicts, err := s.foundVerdicts(ctx)
	if err != nil {
		return c, err
	}

	injected := Injected(runs)
	foundByKind := map[string]int{}
	want := map[Finding]bool{}
	for _, r := range runs {
		for _, f := range r.Findings() {
			want[f] = true
		}
	}
	got := map[Finding]bool{}
	for _, f := range found {
		foundByKind[f.Kind]++
		got[f] = true
		if !want[f] {
			c.UnexpectedTotal++
			if len(c.Unexpected) < maxExamples {
				c.Unexpected = append(c.Unexpected, f)
			}
		}
	}
	for _, r := range runs {
		for _, f := range r.Findings() {
			if !got[f] {
				c.UnfoundTotal++
				if len(c.Unfound) < maxExamples {
					c.Unfound = append(c.Unfound, f)
				}
			}
		}
	}

	stale := 0
	violated := 0
	for _, r := range runs {
		if r.Fault == FaultStale {
			stale++
		}
		if r.Violated() {
			violated++
		}
	}
	for _, f := range Faults {
		n := Count{Name: string(f), Injected: injected[string(f)], Found: foundByKind[string(f)]}
		switch f {
		case FaultMissing:
			n.Note = fmt.Sprintf("%d missing runs + %d stale runs' %s", n.Injected-stale, stale, finalize)
		case FaultLate:
			n.Note = "history, not open: resolved into a late finding"
		case FaultInvalid:
			n.Note = "expectation with a NULL deadline, written with raw SQL"
		}
		c.Counts = append(c.Counts, n)
	}
	c.Counts = append(c.Counts,
		Count{Name: "violated runs", Injected: violated, Found: verdicts[reconciler.VerdictViolated],
			Note: "runs with an open finding"},
		Count{Name: "clean runs", Injected: len(runs) - violated, Found: verdicts[reconciler.VerdictClean],
			Note: "healthy runs (some retried an ack) and late runs"},
	)
	if n := verdicts[reconciler.VerdictPending]; n > 0 {
		c.Counts = append(c.Counts, Count{Name: "pending runs", Injected: 0, Found: n})
	}
	return c, nil
}

// foundFindings returns the open findings and the late findings of the
// demo's runs.
func (s *sim) foundFindings(ctx context.Context) ([]Finding, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT o.run_id, o.domain, o.action, o.kind
		FROM rac.open_findings o
		JOIN demo.runs r ON r.run_id = o.run_id
		WHERE r.demo_id = $1 AND o.tenant = $2
		UNION ALL
		SELECT f.run_id, c.domain, c.action, f.kind
		FROM rac.findings f
		JOIN demo.runs r ON r.run_id = f.run_id
		JOIN rac.contract_actions c ON c.id = f.action_id
		JOIN rac.tenants t ON t.id = f.tenant_id
		WHERE r.demo_id = $1 AND t.name = $2 AND f.kind = 'late'`, s.demoID, ledger.DefaultTenant)
	if err != nil {
		return nil, fmt.Errorf("read the demo's findings: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Finding, error) {
		var (
			f              Finding
			domain, action string
		)
		err := row.Scan(&f.RunID, &domain, &action, &f.Kind)
		f.Ref = Ref{Domain: ledger.Domain(domain), Action: ledger.Action(action)}
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the demo's findings: %w", err)
	}
	return found, nil
}

// foundVerdicts counts the demo's runs by verdict.
func (s *sim) foundVerdicts(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT st.verdict, count(*)::int
		FROM rac.run_status st
		JOIN demo.runs r ON r.run_id = st.run_id
		WHERE r.demo_id = $1 AND st.tenant = $2
		GROUP BY st.verdict`, s.demoID, ledger.DefaultTenant)
	if err != nil {
		return nil, fmt.Errorf("read the demo's verdicts: %w", err)
	}
	counts := map[string]int{}
	var (
		verdict string
		n       int
	)
	if _, err := pgx.ForEachRow(rows, []any{&verdict, &n}, func() error {
		counts[verdict] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the demo's verdicts: %w", err)
	}
	return counts, nil
}

// String renders f as "run domain/action kind".
func (f Finding) String() string {
	return fmt.Sprintf("%s %s %s", f.RunID, f.Ref, f.Kind)
}
