package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// runPhases is the selected run's phase timeline (rac.run_timeline) and
// its governance checks (rac.governance_outcomes), for `rac report --run`.
type runPhases struct {
	Timeline []phaseRow      `json:"timeline"`
	Checks   []governanceRow `json:"governance_checks"`
}

type phaseRow struct {
	Tenant        string          `json:"tenant"`
	Seq           int             `json:"seq"`
	Phase         string          `json:"phase"`
	RecordedAt    time.Time       `json:"recorded_at"`
	SincePrevious *time.Duration  `json:"since_previous_ns,omitempty"`
	Author        *string         `json:"author"`
	Note          *string         `json:"note,omitempty"`
	CheckOutcome  *string         `json:"check_outcome,omitempty"`
	CheckUnmet    json.RawMessage `json:"check_unmet,omitempty"`
}

type governanceRow struct {
	CheckID   int64           `json:"check_id"`
	Tenant    string          `json:"tenant"`
	CheckedAt time.Time       `json:"checked_at"`
	Author    *string         `json:"author"`
	Policy    string          `json:"policy"`
	Outcome   string          `json:"outcome"`
	Unmet     json.RawMessage `json:"unmet"`
}

// readPhases reads the selected run's phases and checks into rep.Run.
func readPhases(ctx context.Context, tx pgx.Tx, rep *report, tenant *string) error {
	if rep.Run == nil {
		return nil
	}
	p := &runPhases{Timeline: []phaseRow{}, Checks: []governanceRow{}}
	rows, err := tx.Query(ctx, `
		SELECT tenant, seq, phase, recorded_at, since_previous, author, note, check_outcome, check_unmet
		FROM rac.run_timeline
		WHERE run_id = $1 AND ($2::text IS NULL OR tenant = $2)
		ORDER BY tenant, seq`, rep.Run.RunID, tenant)
	if err != nil {
		return fmt.Errorf("read run phases: %w", err)
	}
	p.Timeline, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (phaseRow, error) {
		var r phaseRow
		err := row.Scan(&r.Tenant, &r.Seq, &r.Phase, &r.RecordedAt, &r.SincePrevious, &r.Author, &r.Note, &r.CheckOutcome, &r.CheckUnmet)
		return r, err
	})
	if err != nil {
		return fmt.Errorf("read run phases: %w", err)
	}
	rows, err = tx.Query(ctx, `
		SELECT check_id, tenant, checked_at, author, policy, outcome, unmet
		FROM rac.governance_outcomes
		WHERE run_id = $1 AND ($2::text IS NULL OR tenant = $2)
		ORDER BY checked_at, check_id`, rep.Run.RunID, tenant)
	if err != nil {
		return fmt.Errorf("read governance checks: %w", err)
	}
	p.Checks, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (governanceRow, error) {
		var r governanceRow
		err := row.Scan(&r.CheckID, &r.Tenant, &r.CheckedAt, &r.Author, &r.Policy, &r.Outcome, &r.Unmet)
		return r, err
	})
	if err != nil {
		return fmt.Errorf("read governance checks: %w", err)
	}
	rep.Run.Phases = p
	return nil
}

// writePhases prints the selected run's phase timeline and governance
// checks, when it records any.
func writePhases(w io.Writer, run *selectedRun) {
	if run == nil || run.Phases == nil || (len(run.Phases.Timeline) == 0 && len(run.Phases.Checks) == 0) {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "phases of run %s: %d\n", run.RunID, len(run.Phases.Timeline))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTENANT\tPHASE\tRECORDED AT\tAFTER\tAUTHOR\tCHECK\tNOTE")
	for _, p := range run.Phases.Timeline {
		after := "-"
		if p.SincePrevious != nil {
			after = p.SincePrevious.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Seq, p.Tenant, p.Phase, formatTime(p.RecordedAt), after,
			phaseText(p.Author), phaseText(p.CheckOutcome), phaseText(p.Note))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "governance checks of run %s: %d\n", run.RunID, len(run.Phases.Checks))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tTENANT\tCHECKED AT\tAUTHOR\tPOLICY\tOUTCOME\tUNMET")
	for _, c := range run.Phases.Checks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.CheckID, c.Tenant, formatTime(c.CheckedAt), phaseText(c.Author),
			c.Policy, c.Outcome, describeUnmet(c.Unmet))
	}
	_ = tw.Flush()
}

// describeUnmet lists a check's unmet items as domain/action: status.
func describeUnmet(raw json.RawMessage) string {
	var items []struct{ Domain, Action, Status string }
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return "-"
	}
	s := ""
	for i, u := range items {
		if i > 0 {
			s += ", "
		}
		s += u.Domain + "/" + u.Action + ": " + u.Status
	}
	return s
}

func phaseText(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}
