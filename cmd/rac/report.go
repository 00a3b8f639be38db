package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/internal/txutil"
	"github.com/racledger/racledger/reconciler"
)

const reportSynopsis = "rac report [--run ID] [--since TIME] [--kind KINDS] [--limit N] [--tenant NAME] [--max-lag DURATION] [--format table|json] [--database-url URL]"

// reportFilter selects what a report covers. Zero fields select everything.
type reportFilter struct {
	Tenant string     `json:"tenant,omitempty"`
	RunID  *uuid.UUID `json:"run_id,omitempty"`
	// Since keeps the open findings detected at or after it and counts the
	// findings closed by resolutions recorded at or after it.
	Since *time.Time `json:"since,omitempty"`
	// Kinds keeps only the open findings of these kinds (--kind); nil: all.
	Kinds []string `json:"kinds,omitempty"`
	// Limit caps the open findings listed (--limit); 0: no cap. Counts
	// (open_by_kind, open_total) are never capped.
	Limit int `json:"limit,omitempty"`
}

// report is what `rac report` prints: verdict counts, open findings and
// closed findings by resolution, and with --run the run's finding history,
// read from the rac.run_status, rac.open_findings and rac.findings_history
// views in one snapshot.
type report struct {
	AsOf   time.Time    `json:"as_of"`
	Filter reportFilter `json:"filter"`
	// Standby, present only when the report was read on a standby, says
	// how current its data is: replay lag, paused replay.
	Standby *standbyState `json:"standby,omitempty"`
	// Scope names the tenants the report's session saw: --tenant, the
	// session's rac.tenant, or the tenants its login role may see.
	Scope []string `json:"scope"`
	// Coverage is what the finished reconciliation passes have judged.
	Coverage coverage `json:"coverage"`
	// CannotTell, when set, says why the report cannot tell that nothing is
	// open (exit 5): no pass has finished, or runs passed their deadline
	// after a last finished pass older than --max-lag.
	CannotTell string `json:"cannot_tell,omitempty"`
	// Verdicts counts the selected runs by latest verdict.
	Verdicts map[string]int `json:"verdicts"`
	// Run is the selected run's status, only with --run.
	Run *selectedRun `json:"run,omitempty"`
	// OpenByKind counts OpenFindings by kind.
	OpenByKind map[string]int `json:"open_by_kind"`
	// OpenTotal counts the selected open findings; OpenFindings lists
	// them, the first Filter.Limit only when a limit is set.
	OpenTotal    int           `json:"open_total"`
	OpenFindings []openFinding `json:"open_findings"`
	// ClosedByResolution counts the selected findings closed by a
	// resolution (recorded since Filter.Since, when set), by resolution
	// kind: every kind of resolutionKinds is present, zero included.
	ClosedByResolution map[string]int `json:"closed_by_resolution"`
}

// The resolutions that close a finding (rac.finding_resolutions.resolution).
const (
	// resolutionRetracted: the evidence was written in time but committed
	// after the finding was recorded; the finding never held.
	resolutionRetracted = "retracted"
	// resolutionAcked: a success ack written after the violation began.
	resolutionAcked = "acked"
	// resolutionSuperseded: an error ack written after the deadline made a
	// missing action failed (a failed finding is recorded).
	resolutionSuperseded = "superseded"
	// resolutionDeclared: a drift ack whose expectation was written after
	// it and committed later.
	resolutionDeclared = "declared"
	// resolutionWaived: a person accepted the finding (rac.waive).
	resolutionWaived = "waived"
)

// resolutionKinds lists the resolutions in the order reports show them.
var resolutionKinds = []string{
	resolutionRetracted, resolutionAcked, resolutionSuperseded, resolutionDeclared, resolutionWaived,
}

// resolutionGloss says in a few words what each resolution means.
var resolutionGloss = map[string]string{
	resolutionRetracted:  "never held: the evidence was written in time and committed late (a false alarm)",
	resolutionAcked:      "resolved by a success ack written after the violation began (a late action)",
	resolutionSuperseded: "missing became failed: an error ack written after the deadline",
	resolutionDeclared:   "drift whose ack preceded its declaration, declared later",
	resolutionWaived:     "waived by a person, with a reason",
}

// historyFinding is one row of rac.findings_history for the selected run.
// The resolution fields are null while the finding is unresolved; the
// evidence fields name the row that closed it (an ack, or for drift the
// expectation) and are null for a waiver.
type historyFinding struct {
	FindingID        int64     `json:"finding_id"`
	Tenant           string    `json:"tenant"`
	RunID            uuid.UUID `json:"run_id"`
	Domain           string    `json:"domain"`
	Action           string    `json:"action"`
	Kind             string    `json:"kind"`
	ViolatedAt       time.Time `json:"violated_at"`
	DetectedAt       time.Time `json:"detected_at"`
	ReconciliationID int64     `json:"reconciliation_id"`
	Open             bool      `json:"open"`
	// Resolution is retracted, acked, superseded, declared or waived.
	Resolution *string `json:"resolution"`
	// ResolvedAt is when the finding stopped holding: the evidence's time,
	// or violated_at for a retraction (it never held), or the waiver's.
	// Only an acked resolution recorded before migration 00008 may have
	// one before ViolatedAt (an ack written in time, committed late).
	ResolvedAt *time.Time `json:"resolved_at"`
	// ResolutionRecordedAt is when the resolution was written.
	ResolutionRecordedAt *time.Time `json:"resolution_recorded_at"`
	EvidenceTable        *string    `json:"evidence_table"`
	EvidenceID           *int64     `json:"evidence_id"`
	// EvidenceAt is the evidence row's own time: the ack's acked_at or the
	// expectation's declared_at.
	EvidenceAt *time.Time `json:"evidence_at"`
	Actor      *string    `json:"actor"`
	Reason     *string    `json:"reason"`
}

// selectedRun is the verdict of the run selected with --run, once per tenant
// it appears in, and its finding history; Verdicts is empty for a run no
// pass has reconciled (or that does not exist).
type selectedRun struct {
	RunID    uuid.UUID    `json:"run_id"`
	Verdicts []runVerdict `json:"verdicts"`
	// History is every finding of the run, open or closed, with its
	// resolution and the resolution's evidence, in the order they were
	// detected, whatever Filter.Since says.
	History []historyFinding `json:"history"`
	// Phases is the run's phase timeline and governance checks (report_phases.go).
	Phases *runPhases `json:"phases,omitempty"`
}

type runVerdict struct {
	Tenant  string `json:"tenant"`
	Verdict string `json:"verdict"`
	// RecordedAt is when the verdict was recorded; nil for a run that was
	// clean the first time a pass saw it.
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
}

// coverage is the row of rac.reconciler_coverage.
type coverage struct {
	// LastPassID is the final batch of the last finished pass; nil when no
	// pass has finished.
	LastPassID         *int64     `json:"last_pass_id"`
	LastPassFinishedAt *time.Time `json:"last_pass_finished_at"`
	LastPassAsOf       *time.Time `json:"last_pass_as_of"`
	Reconciler         *string    `json:"last_pass_reconciler"`
	// Horizon: rows with a lower tx_id are final and judged.
	Horizon        *int64 `json:"horizon"`
	CurrentHorizon int64  `json:"current_horizon"`
	// DeadlinesJudgedTo: deadlines up to this time were judged.
	DeadlinesJudgedTo *time.Time `json:"deadlines_judged_to"`
	// LagSeconds is how far the last finished pass is behind the clock.
	LagSeconds *float64 `json:"lag_seconds"`
	// OverdueUnjudgedRuns counts the runs whose deadline passed after the
	// last judged deadline: no finished pass has judged them yet.
	OverdueUnjudgedRuns int64 `json:"overdue_unjudged_runs"`
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

// openKinds are the finding kinds that can be open (--kind).
var openKinds = []string{
	reconciler.KindMissing, reconciler.KindFailed, reconciler.KindDrift, reconciler.KindInvalid, reconciler.KindStale,
}

// runReport implements `rac report`. It only reads the report views: exit
// 0 when the selection has no open finding, 3 when it has any (closed
// findings never change the exit code).
func runReport(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "report", reportSynopsis)
	dbURL := databaseFlag(fs, env)
	runFlag := fs.String("run", "", "only this run (uuid)")
	since := fs.String("since", "", "only open findings detected, and closed findings whose resolution was recorded, since `TIME`: "+
		timeSyntax)
	kinds := fs.String("kind", "", "only open findings of these `KINDS` (comma-separated: missing, failed, drift, invalid, stale)")
	limit := fs.Int("limit", 0, "list at most `N` open findings (counts stay complete; 0: all)")
	tenant := fs.String("tenant", "", "only this tenant (an unknown tenant, or one outside your scope, is an error)")
	maxLag := fs.Duration("max-lag", 15*time.Minute,
		"how far the last finished pass may lag before runs past their deadline since then make the report unable to tell (exit 5)")
	format := fs.String("format", "table", "output `FORMAT`: table (or text) or json")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if *format != "table" && *format != formatText && *format != formatJSON {
		return exitUsage, fmt.Errorf("%w: --format %q: want table or json", errUsage, *format)
	}
	if *limit < 0 {
		return exitUsage, fmt.Errorf("%w: --limit %d must not be negative", errUsage, *limit)
	}
	if *maxLag < 0 {
		return exitUsage, fmt.Errorf("%w: --max-lag %v must not be negative", errUsage, *maxLag)
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
	sinceArg, err := parseTimeArg("--since", *since)
	if err != nil {
		return exitUsage, err
	}
	filter.Limit = *limit
	for _, k := range strings.Split(*kinds, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !slices.Contains(openKinds, k) {
			return exitUsage, fmt.Errorf("%w: --kind %q: want one of %s", errUsage, k, strings.Join(openKinds, ", "))
		}
		filter.Kinds = append(filter.Kinds, k)
	}

	pool, err := connect(ctx, *dbURL)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	rep, err := readReport(ctx, pool, filter, sinceArg)
	if err != nil {
		return exitError, err
	}
	rep.OpenTotal = len(rep.OpenFindings)
	shown := rep.OpenFindings
	if *limit > 0 && len(shown) > *limit {
		shown = shown[:*limit]
	}
	rep.CannotTell = cannotTell(rep.Coverage, *maxLag)
	if *format == formatJSON {
		out := rep
		out.OpenFindings = shown
		if err := writeJSON(env.stdout, out); err != nil {
			return exitError, fmt.Errorf("write report: %w", err)
		}
	} else {
		writeReportTable(env.stdout, rep, shown)
	}
	switch {
	case rep.OpenTotal > 0:
		return exitViolated, nil // a known violation, whatever is still unjudged
	case rep.CannotTell != "":
		fmt.Fprintf(env.stderr, "rac report: cannot tell that nothing is open: %s\n", rep.CannotTell)
		return exitCannotTell, nil
	}
	return exitOK, nil
}

// cannotTell says why a report cannot claim that nothing is open, or "":
// no reconciliation pass has finished, or the last one lags more than
// maxLag while runs have passed their deadline since it.
func cannotTell(c coverage, maxLag time.Duration) string {
	if c.LastPassID == nil {
		return "no reconciliation pass has finished (is the reconciler running? rac reconcile --once, or rac serve)"
	}
	lag := time.Duration(0)
	if c.LagSeconds != nil {
		lag = time.Duration(*c.LagSeconds * float64(time.Second))
	}
	if c.OverdueUnjudgedRuns > 0 && lag > maxLag {
		return fmt.Sprintf("%d run(s) passed their deadline after the last finished pass, which is %v old (--max-lag %v): "+
			"the reconciler has stopped or falls behind", c.OverdueUnjudgedRuns, lag.Round(time.Second), maxLag)
	}
	return ""
}

// readReport reads the report in one read-only snapshot. sinceAgo, when
// positive, is resolved against the database clock.
func readReport(ctx context.Context, pool *pgxpool.Pool, filter reportFilter, since timeArg) (report, error) {
	rep := report{Filter: filter, Verdicts: map[string]int{}, OpenByKind: map[string]int{}, OpenFindings: []openFinding{},
		ClosedByResolution: map[string]int{}}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, fmt.Errorf("begin report transaction: %w", err)
	}
	defer func() { _ = txutil.Rollback(ctx, tx) }() // read-only: nothing to keep

	if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&rep.AsOf); err != nil {
		return rep, fmt.Errorf("read database clock: %w", err)
	}
	if rep.Standby, err = readStandbyState(ctx, tx, rep.AsOf); err != nil {
		return rep, err
	}
	if since.set() {
		t := since.resolve(rep.AsOf)
		rep.Filter.Since = &t
	}
	var tenant *string
	if filter.Tenant != "" {
		tenant = &filter.Tenant
		// Naming the tenant scopes every view to it, and an unknown tenant
		// or one outside this login's scope is an error, never "nothing
		// open".
		if _, err := tx.Exec(ctx, `SELECT set_config('rac.tenant', $1, true)`, filter.Tenant); err != nil {
			return rep, fmt.Errorf("select tenant %q: %w", filter.Tenant, err)
		}
	}
	if err := readCoverage(ctx, tx, &rep); err != nil {
		return rep, err
	}

	if err := readVerdicts(ctx, tx, &rep, tenant); err != nil {
		return rep, err
	}
	rows, err := tx.Query(ctx, `
		SELECT finding_id, tenant, run_id, domain, action, kind, violated_at, detected_at
		FROM rac.open_findings
		WHERE ($1::text IS NULL OR tenant = $1)
		  AND ($2::uuid IS NULL OR run_id = $2)
		  AND ($3::timestamptz IS NULL OR detected_at >= $3)
		  AND ($4::text[] IS NULL OR kind = ANY ($4))
		ORDER BY detected_at, finding_id`, tenant, rep.Filter.RunID, rep.Filter.Since, rep.Filter.Kinds)
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
	if err := readClosed(ctx, tx, &rep, tenant); err != nil {
		return rep, err
	}
	if rep.Filter.RunID != nil {
		if err := readHistory(ctx, tx, &rep, tenant); err != nil {
			return rep, err
		}
		if err := readPhases(ctx, tx, &rep, tenant); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// readCoverage reads the session's scope and what the finished passes have
// judged (rac.reconciler_coverage). With a tenant named, this is where an
// unknown or out-of-scope tenant fails.
func readCoverage(ctx context.Context, tx pgx.Tx, rep *report) error {
	c := &rep.Coverage
	err := tx.QueryRow(ctx, `
		SELECT tenants, last_pass_id, last_pass_finished_at, last_pass_as_of, last_pass_reconciler, horizon,
		       current_horizon, deadlines_judged_to, extract(epoch FROM lag)::float8, overdue_unjudged_runs
		FROM rac.reconciler_coverage`).Scan(&rep.Scope, &c.LastPassID, &c.LastPassFinishedAt, &c.LastPassAsOf,
		&c.Reconciler, &c.Horizon, &c.CurrentHorizon, &c.DeadlinesJudgedTo, &c.LagSeconds, &c.OverdueUnjudgedRuns)
	if err != nil {
		if tenant := rep.Filter.Tenant; tenant != "" {
			return fmt.Errorf("tenant %q: %w", tenant, err)
		}
		return fmt.Errorf("read reconciler coverage (is the schema migrated? rac migrate up): %w", err)
	}
	if rep.Scope == nil {
		rep.Scope = []string{}
	}
	return nil
}

// readClosed counts the selected findings closed by a resolution recorded
// since the filter's time, by resolution (counted by the database).
func readClosed(ctx context.Context, tx pgx.Tx, rep *report, tenant *string) error {
	for _, k := range resolutionKinds {
		rep.ClosedByResolution[k] = 0
	}
	return countInto(ctx, tx, rep.ClosedByResolution, "count closed findings", `
		SELECT resolution, count(*)::int
		FROM rac.findings_history
		WHERE resolution IS NOT NULL
		  AND ($1::text IS NULL OR tenant = $1)
		  AND ($2::uuid IS NULL OR run_id = $2)
		  AND ($3::timestamptz IS NULL OR resolution_recorded_at >= $3)
		GROUP BY resolution`, tenant, rep.Filter.RunID, rep.Filter.Since)
}

// countInto runs a query of (key, count) rows and stores each count in m.
func countInto(ctx context.Context, tx pgx.Tx, m map[string]int, what, sql string, args ...any) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var (
		key string
		n   int
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &n}, func() error {
		m[key] = n
		return nil
	}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// readHistory fills rep.Run.History with every finding of the selected run.
func readHistory(ctx context.Context, tx pgx.Tx, rep *report, tenant *string) error {
	rows, err := tx.Query(ctx, `
		SELECT finding_id, tenant, run_id, domain, action, kind, violated_at, detected_at, reconciliation_id, open,
		       resolution, resolved_at, resolution_recorded_at, evidence_table, evidence_id, evidence_at, actor, reason
		FROM rac.findings_history
		WHERE ($1::text IS NULL OR tenant = $1) AND run_id = $2
		ORDER BY detected_at, finding_id`, tenant, rep.Filter.RunID)
	if err != nil {
		return fmt.Errorf("read finding history: %w", err)
	}
	history, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (historyFinding, error) {
		var h historyFinding
		err := row.Scan(&h.FindingID, &h.Tenant, &h.RunID, &h.Domain, &h.Action, &h.Kind, &h.ViolatedAt, &h.DetectedAt,
			&h.ReconciliationID, &h.Open, &h.Resolution, &h.ResolvedAt, &h.ResolutionRecordedAt,
			&h.EvidenceTable, &h.EvidenceID, &h.EvidenceAt, &h.Actor, &h.Reason)
		return h, err
	})
	if err != nil {
		return fmt.Errorf("read finding history: %w", err)
	}
	rep.Run.History = append(rep.Run.History, history...)
	return nil
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
	return countInto(ctx, tx, rep.Verdicts, "count run verdicts", `
		SELECT verdict, count(*)::int
		FROM rac.run_status
		WHERE ($1::text IS NULL OR tenant = $1)
		GROUP BY verdict`,
		tenant)
}

// readRunVerdicts fills rep.Run with the selected run's verdicts and counts
// them into rep.Verdicts.
func readRunVerdicts(ctx context.Context, tx pgx.Tx, rep *report, tenant *string) error {
	rep.Run = &selectedRun{RunID: *rep.Filter.RunID, Verdicts: []runVerdict{}, History: []historyFinding{}}
	rows, err := tx.Query(ctx, `
		SELECT tenant, verdict, recorded_at
		FROM rac.run_status
		WHERE ($1::text IS NULL OR tenant = $1) AND run_id = $2`,
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
	if rep.Standby != nil {
		fmt.Fprintln(w, describeStandby(rep.Standby))
	}
	fmt.Fprintf(w, "selection: %s\n", describeFilter(rep.Filter))
	fmt.Fprintf(w, "scope: %s\n", describeScope(rep.Scope))
	writeCoverage(w, rep.Coverage)
	if rep.CannotTell != "" {
		fmt.Fprintf(w, "CANNOT TELL: %s\n", rep.CannotTell)
	}
	fmt.Fprintln(w)

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

	writeOpenFindings(w, rep, shown)
	writeClosed(w, rep.ClosedByResolution)
	if rep.Run != nil {
		fmt.Fprintln(w)
		writeHistory(w, rep.Run)
		writePhases(w, rep.Run)
	}
}

// describeScope names the tenants a report saw.
func describeScope(tenants []string) string {
	if len(tenants) == 0 {
		return "no tenant"
	}
	return "tenant(s) " + strings.Join(tenants, ", ")
}

// writeCoverage prints the last finished pass and what it has judged.
func writeCoverage(w io.Writer, c coverage) {
	if c.LastPassID == nil {
		fmt.Fprintln(w, "last finished pass: none")
		return
	}
	lag := ""
	if c.LagSeconds != nil {
		lag = fmt.Sprintf(", %v behind", (time.Duration(*c.LagSeconds * float64(time.Second))).Round(time.Second))
	}
	horizon := int64(0)
	if c.Horizon != nil {
		horizon = *c.Horizon
	}
	fmt.Fprintf(w, "last finished pass: %s (as of %s%s; horizon %d, now %d)\n", formatTime(*c.LastPassFinishedAt),
		formatTime(*c.LastPassAsOf), lag, horizon, c.CurrentHorizon)
	if c.OverdueUnjudgedRuns > 0 {
		fmt.Fprintf(w, "not judged yet: %d run(s) passed their deadline after the last judged deadline\n", c.OverdueUnjudgedRuns)
	}
}

// writeOpenFindings prints the open findings in shown and how many more
// there are.
func writeOpenFindings(w io.Writer, rep report, shown []openFinding) {
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
		fmt.Fprintf(w, "... and %d more (rac report without --limit lists them all; --kind selects kinds)\n", more)
	}
}

// writeClosed prints the closed findings by resolution, each with what it
// means: "closed findings: 3", then one line per resolution that closed any.
func writeClosed(w io.Writer, closed map[string]int) {
	total := 0
	for _, n := range closed {
		total += n
	}
	if total == 0 {
		fmt.Fprintln(w, "closed findings: none")
		return
	}
	fmt.Fprintf(w, "closed findings: %d\n", total)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range sortedResolutions(closed) {
		if closed[k] > 0 {
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", k, closed[k], cmp.Or(resolutionGloss[k], "unknown resolution"))
		}
	}
	_ = tw.Flush()
}

// writeHistory prints every finding of the selected run with its
// resolution and the resolution's evidence.
func writeHistory(w io.Writer, run *selectedRun) {
	if len(run.History) == 0 {
		fmt.Fprintf(w, "finding history of run %s: no findings\n", run.RunID)
		return
	}
	fmt.Fprintf(w, "finding history of run %s: %d finding(s)\n", run.RunID, len(run.History))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FINDING\tTENANT\tDOMAIN/ACTION\tKIND\tVIOLATED AT\tDETECTED AT\tRESOLUTION\tRESOLVED AT\tRECORDED AT\tEVIDENCE")
	lateHistory := false
	for _, h := range run.History {
		resolution := "-"
		switch {
		case h.Resolution != nil:
			resolution = *h.Resolution
		case h.Open:
			resolution = "open"
		default:
			lateHistory = true
		}
		fmt.Fprintf(tw, "%d\t%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.FindingID, h.Tenant, h.Domain, h.Action, h.Kind,
			formatTime(h.ViolatedAt), formatTime(h.DetectedAt), resolution,
			formatOptTime(h.ResolvedAt), formatOptTime(h.ResolutionRecordedAt), describeEvidence(h))
	}
	_ = tw.Flush()
	if lateHistory {
		fmt.Fprintln(w, "(a late finding without resolution is history, never open: the work was done after its deadline)")
	}
}

// describeEvidence names what closed h: the evidence row and its time, or
// the person who waived it.
func describeEvidence(h historyFinding) string {
	switch {
	case h.EvidenceTable != nil && h.EvidenceID != nil:
		s := fmt.Sprintf("%s %d", *h.EvidenceTable, *h.EvidenceID)
		if h.EvidenceAt != nil {
			s += " at " + formatTime(*h.EvidenceAt)
		}
		return s
	case h.Actor != nil:
		return fmt.Sprintf("by %s: %s", *h.Actor, deref(h.Reason))
	}
	return "-"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// resolutionList renders the positive counts as ": retracted 2, acked 1"
// in resolutionKinds order, or "" when no count is positive.
func resolutionList(counts map[string]int) string {
	var parts []string
	for _, k := range sortedResolutions(counts) {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

// sortedResolutions lists the keys of counts in resolutionKinds order, then
// any other in alphabetical order.
func sortedResolutions(counts map[string]int) []string {
	out := slices.Clone(resolutionKinds)
	var rest []string
	for k := range counts {
		if !slices.Contains(out, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
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
		parts = append(parts, "findings detected or closed since "+formatTime(*f.Since))
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

// formatOptTime renders t as formatTime does, or "-" when it is nil.
func formatOptTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}
