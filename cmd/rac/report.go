package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/reconciler"
)

const reportSynopsis = "rac report [--run ID] [--since DURATION|RFC3339] [--tenant NAME] [--format table|json] [--database-url URL]"

// reportFilter selects what a report covers. Zero fields select everything.
type reportFilter struct {
	Tenant string     `json:"tenant,omitempty"`
	RunID  *uuid.UUID `json:"run_id,omitempty"`
	// Since keeps findings detected at or after it.
	Since *time.Time `json:"since,omitempty"`
}

// report is what `rac report` prints: verdict counts and open findings,
// read from the rac.run_status and rac.open_findings views in one snapshot.
type report struct {
	AsOf   time.Time    `json:"as_of"`
	Filter reportFilter `json:"filter"`
	// Verdicts counts the selected runs by latest verdict.
	Verdicts map[string]int `json:"verdicts"`
	// Run is the selected run's status, only with --run.
	Run *selectedRun `json:"run,omitempty"`
	// OpenByKind counts OpenFindings by kind.
	OpenByKind   map[string]int `json:"open_by_kind"`
	OpenFindings []openFinding  `json:"open_findings"`
}

// selectedRun is the verdict of the run selected with --run, once per tenant
// it appears in; Verdicts is empty for a run no pass has reconciled (or
// that does not exist).
type selectedRun struct {
	RunID    uuid.UUID    `json:"run_id"`
	Verdicts []runVerdict `json:"verdicts"`
}

type runVerdict struct {
	Tenant  string `json:"tenant"`
	Verdict string `json:"verdict"`
	// RecordedAt is when the verdict was recorded; nil for a run that was
	// clean the first time a pass saw it.
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
}

// openFinding is one row of rac.open_findings.
type openFinding struct {
	FindingID  int64     `json:"finding_id"`
	Tenant     string    `json:"tenant"`
	RunID      uuid.UUID `json:"run_id"`
	Domain     string    `json:"domain"`
	Action     string    `json:"action"`
	Kind       string    `json:"kind"`
	ViolatedAt time.Time `json:"violated_at"`
	DetectedAt time.Time `json:"detected_at"`
}

// runReport implements `rac report`. It only reads the report views: exit
// 0 when the selection has no open finding, 3 when it has any.
func runReport(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "report", reportSynopsis)
	dbURL := databaseFlag(fs, env)
	runFlag := fs.String("run", "", "only this run (uuid)")
	since := fs.String("since", "", "only findings detected since: a duration back from now (24h) or an RFC 3339 time")
	tenant := fs.String("tenant", "", "only this tenant")
	format := fs.String("format", "table", "output format: table or json")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if *format != "table" && *format != "json" {
		return exitUsage, fmt.Errorf("%w: --format %q: want table or json", errUsage, *format)
	}
	var filter reportFilter
	filter.Tenant = *tenant
	if *runFlag != "" {
		id, err := uuid.Parse(*runFlag)
		if err != nil {
			return exitUsage, fmt.Errorf("%w: --run %q is not a uuid", errUsage, *runFlag)
		}
		filter.RunID = &id
	}
	sinceAgo, sinceAt, err := parseSince(*since)
	if err != nil {
		return exitUsage, err
	}

	pool, err := connect(ctx, *dbURL)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	rep, err := readReport(ctx, pool, filter, sinceAgo, sinceAt)
	if err != nil {
		return exitError, err
	}
	if *format == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitError, fmt.Errorf("write report: %w", err)
		}
	} else {
		writeReportTable(env.stdout, rep, rep.OpenFindings)
	}
	if len(rep.OpenFindings) > 0 {
		return exitViolated, nil
	}
	return exitOK, nil
}

// parseSince reads --since: a positive duration back from the database's
// now, or an absolute RFC 3339 time. Both are zero when s is empty.
func parseSince(s string) (ago time.Duration, at *time.Time, err error) {
	if s == "" {
		return 0, nil, nil
	}
	if d, derr := time.ParseDuration(s); derr == nil {
		if d <= 0 {
			return 0, nil, fmt.Errorf("%w: --since %q must be a positive duration", errUsage, s)
		}
		return d, nil, nil
	}
	t, terr := time.Parse(time.RFC3339Nano, s)
	if terr != nil {
		return 0, nil, fmt.Errorf("%w: --since %q is neither a duration (24h) nor an RFC 3339 time (2006-01-02T15:04:05Z)", errUsage, s)
	}
	return 0, &t, nil
}

// readReport reads the report in one read-only snapshot. sinceAgo, when
// positive, is resolved against the database clock.
func readReport(ctx context.Context, pool *pgxpool.Pool, filter reportFilter, sinceAgo time.Duration, sinceAt *time.Time) (report, error) {
	rep := report{Filter: filter, Verdicts: map[string]int{}, OpenByKind: map[string]int{}, OpenFindings: []openFinding{}}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, fmt.Errorf("begin report transaction: %w", err)
	}
	defer func() {
		rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rbCtx) // read-only: nothing to keep
	}()

	if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&rep.AsOf); err != nil {
		return rep, fmt.Errorf("read database clock: %w", err)
	}
	if sinceAgo > 0 {
		t := rep.AsOf.Add(-sinceAgo)
		rep.Filter.Since = &t
	} else if sinceAt != nil {
		rep.Filter.Since = sinceAt
	}
	var tenant *string
	if filter.Tenant != "" {
		tenant = &filter.Tenant
	}

	if err := readVerdicts(ctx, tx, &rep, tenant); err != nil {
		return rep, err
	}
	rows, err := tx.Query(ctx, `
		SELECT finding_id, tenant_id, run_id, domain, action, kind, violated_at, detected_at
		FROM rac.open_findings
		WHERE ($1::text IS NULL OR tenant_id = $1)
		  AND ($2::uuid IS NULL OR run_id = $2)
		  AND ($3::timestamptz IS NULL OR detected_at >= $3)
		ORDER BY detected_at, finding_id`, tenant, rep.Filter.RunID, rep.Filter.Since)
	if err != nil {
		return rep, fmt.Errorf("read open findings: %w", err)
	}
	findings, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (openFinding, error) {
		var f openFinding
		err := row.Scan(&f.FindingID, &f.Tenant, &f.RunID, &f.Domain, &f.Action, &f.Kind, &f.ViolatedAt, &f.DetectedAt)
		return f, err
	})
	if err != nil {
		return rep, fmt.Errorf("read open findings: %w", err)
	}
	rep.OpenFindings = append(rep.OpenFindings, findings...)
	for _, f := range findings {
		rep.OpenByKind[f.Kind]++
	}
	return rep, nil
}

// readVerdicts fills the verdict counts (counted by the database, so a
// ledger of any size costs no memory here) and, with a run selected, that
// run's verdicts (one per tenant, counted here as they are read).
func readVerdicts(ctx context.Context, tx pgx.Tx, rep *report, tenant *string) error {
	for _, v := range []string{reconciler.VerdictClean, reconciler.VerdictPending, reconciler.VerdictViolated} {
		rep.Verdicts[v] = 0
	}
	if rep.Filter.RunID != nil {
		return readRunVerdicts(ctx, tx, rep, tenant)
	}
	rows, err := tx.Query(ctx, `
		SELECT verdict, count(*)::int
		FROM rac.run_status
		WHERE ($1::text IS NULL OR tenant_id = $1)
		GROUP BY verdict`,
		tenant)
	if err != nil {
		return fmt.Errorf("count run verdicts: %w", err)
	}
	var (
		verdict string
		n       int
	)
	if _, err := pgx.ForEachRow(rows, []any{&verdict, &n}, func() error {
		rep.Verdicts[verdict] = n
		return nil
	}); err != nil {
		return fmt.Errorf("count run verdicts: %w", err)
	}
	return nil
}

// readRunVerdicts fills rep.Run with the selected run's verdicts and counts
// them into rep.Verdicts.
func readRunVerdicts(ctx context.Context, tx pgx.Tx, rep *report, tenant *string) error {
	rep.Run = &selectedRun{RunID: *rep.Filter.RunID, Verdicts: []runVerdict{}}
	rows, err := tx.Query(ctx, `
		SELECT tenant_id, verdict, recorded_at
		FROM rac.run_status
		WHERE ($1::text IS NULL OR tenant_id = $1) AND run_id = $2`,
		tenant, rep.Filter.RunID)
	if err != nil {
		return fmt.Errorf("read run verdicts: %w", err)
	}
	var v runVerdict
	if _, err := pgx.ForEachRow(rows, []any{&v.Tenant, &v.Verdict, &v.RecordedAt}, func() error {
		rep.Run.Verdicts = append(rep.Run.Verdicts, v)
		rep.Verdicts[v.Verdict]++
		return nil
	}); err != nil {
		return fmt.Errorf("read run verdicts: %w", err)
	}
	return nil
}

// writeReportTable prints rep for people, listing the findings in shown
// (all of rep.OpenFindings, or a sample of them) and saying how many more
// there are.
func writeReportTable(w io.Writer, rep report, shown []openFinding) {
	fmt.Fprintf(w, "RAC report as of %s\n", formatTime(rep.AsOf))
	fmt.Fprintf(w, "selection: %s\n\n", describeFilter(rep.Filter))

	var verdicts []string
	for _, v := range sortedVerdicts(rep.Verdicts) {
		verdicts = append(verdicts, fmt.Sprintf("%d %s", rep.Verdicts[v], v))
	}
	fmt.Fprintf(w, "runs by verdict: %s\n", strings.Join(verdicts, ", "))
	if rep.Run != nil {
		if len(rep.Run.Verdicts) == 0 {
			fmt.Fprintf(w, "run %s: no verdict (unknown run, or not reconciled yet)\n", rep.Run.RunID)
		}
		for _, v := range rep.Run.Verdicts {
			since := "clean since first seen"
			if v.RecordedAt != nil {
				since = "since " + formatTime(*v.RecordedAt)
			}
			fmt.Fprintf(w, "run %s (tenant %s): %s (%s)\n", rep.Run.RunID, v.Tenant, v.Verdict, since)
		}
	}
	fmt.Fprintln(w)

	if len(rep.OpenFindings) == 0 {
		fmt.Fprintln(w, "open findings: none")
		return
	}
	fmt.Fprintf(w, "open findings: %d (%s)\n", len(rep.OpenFindings), kindCounts(rep.OpenByKind))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FINDING\tTENANT\tRUN\tDOMAIN/ACTION\tKIND\tVIOLATED AT\tDETECTED AT")
	for _, f := range shown {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", f.FindingID, f.Tenant, f.RunID, f.Domain, f.Action, f.Kind,
			formatTime(f.ViolatedAt), formatTime(f.DetectedAt))
	}
	_ = tw.Flush() // errors surface on w's next write; nothing to do about them here
	if more := len(rep.OpenFindings) - len(shown); more > 0 {
		fmt.Fprintf(w, "... and %d more (rac report lists them all)\n", more)
	}
}

// describeFilter renders a report's selection in words.
func describeFilter(f reportFilter) string {
	parts := []string{"all tenants"}
	if f.Tenant != "" {
		parts[0] = "tenant " + f.Tenant
	}
	if f.RunID != nil {
		parts = append(parts, "run "+f.RunID.String())
	} else {
		parts = append(parts, "all runs")
	}
	if f.Since != nil {
		parts = append(parts, "findings detected since "+formatTime(*f.Since))
	}
	return strings.Join(parts, ", ")
}

// sortedVerdicts lists clean, pending and violated first, then any other.
func sortedVerdicts(counts map[string]int) []string {
	out := []string{reconciler.VerdictClean, reconciler.VerdictPending, reconciler.VerdictViolated}
	var rest []string
	for v := range counts {
		if !slices.Contains(out, v) {
			rest = append(rest, v)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// formatTime renders t in UTC with milliseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}
