package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/racledger/racledger/reconciler"
)

const reconcileSynopsis = "rac reconcile (--once | --every DURATION) [--batch-size N] [--pass-timeout DURATION] [--sync-wait-timeout DURATION] [--format text|json] [--database-url URL]"

// runReconcile implements `rac reconcile`: one pass with --once (exit 0
// when no finding is open afterwards, 3 when any is), or a pass every
// --every until the context is cancelled (exit 0).
func runReconcile(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "reconcile", reconcileSynopsis)
	dbURL := databaseFlag(fs, env)
	once := fs.Bool("once", false, "run one pass, print a summary and exit (0 nothing open, 3 findings open)")
	every := fs.Duration("every", 0, "run a pass now and then at this interval until SIGINT/SIGTERM")
	batchSize := fs.Int("batch-size", 0, fmt.Sprintf("runs reconciled per transaction (default %d)", reconciler.DefaultBatchSize))
	passTimeout := passTimeoutFlag(fs)
	syncWait := syncWaitFlag(fs)
	format := formatFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if err := checkFormat(*format); err != nil {
		return exitUsage, err
	}
	loop := flagWasSet(fs, "every")
	switch {
	case *once && loop:
		return exitUsage, fmt.Errorf("%w: --once and --every are mutually exclusive", errUsage)
	case !*once && !loop:
		return exitUsage, fmt.Errorf("%w: give --once or --every DURATION", errUsage)
	case loop && *every <= 0:
		return exitUsage, fmt.Errorf("%w: --every %v must be positive", errUsage, *every)
	}
	logger := env.logger
	if *once {
		logger = env.commandLogger() // the summary says what the pass did
	}
	opts, err := reconcilerOptions(env, *batchSize, *passTimeout, logger)
	if err != nil {
		return exitUsage, err
	}

	guard := newSyncWaitGuard("rac reconcile", *syncWait, env.logger)
	pool, err := connect(ctx, *dbURL, guard.configure)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	if err := requirePrimary(ctx, pool, "rac reconcile"); err != nil {
		return exitError, err
	}
	stopGuard := guard.start(ctx, pool)
	defer stopGuard()
	rec, err := reconciler.New(pool, opts)
	if err != nil {
		return exitError, fmt.Errorf("create reconciler: %w", err)
	}

	if loop {
		env.logger.InfoContext(ctx, "reconcile: running", slog.Duration("every", *every), slog.Duration("grace", opts.Grace))
		err := rec.Run(ctx, *every)
		stopGuard()
		if gErr := guard.err(); gErr != nil {
			return exitError, gErr
		}
		if err != nil {
			return exitError, fmt.Errorf("reconcile loop: %w", err)
		}
		env.logger.InfoContext(ctx, "reconcile: stopped")
		return exitOK, nil
	}

	sum, err := rec.RunOnce(ctx)
	stopGuard()
	if gErr := guard.err(); gErr != nil {
		return exitError, gErr
	}
	if err != nil {
		return exitError, fmt.Errorf("reconciliation pass: %w", err)
	}
	if *format == formatJSON {
		if err := writeJSON(env.stdout, summaryJSON(sum)); err != nil {
			return exitError, err
		}
	} else {
		writeSummary(env.stdout, sum)
	}
	if sum.Open() > 0 {
		return exitViolated, nil
	}
	return exitOK, nil
}

// passJSON is the JSON output of rac reconcile --once: the pass's
// summary with durations in seconds and the open total.
type passJSON struct {
	reconciler.Summary
	HorizonLag float64 `json:"horizon_lag_seconds"`
	Duration   float64 `json:"duration_seconds"`
	OpenTotal  int     `json:"open_total"`
}

func summaryJSON(sum reconciler.Summary) passJSON {
	return passJSON{Summary: sum, HorizonLag: sum.HorizonLag.Seconds(), Duration: sum.Duration.Seconds(), OpenTotal: sum.Open()}
}

// writeSummary prints a human account of one pass.
func writeSummary(w io.Writer, sum reconciler.Summary) {
	fmt.Fprintf(w, "reconciliation pass %s done in %v\n", sum.PassID, sum.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  candidate runs  %d in %d batch(es)\n", sum.CandidateRuns, sum.Batches)
	fmt.Fprintf(w, "  findings        %d recorded%s\n", sum.FindingsRecorded, kindList(sum.FindingsByKind))
	fmt.Fprintf(w, "  resolutions     %d recorded%s\n", sum.ResolutionsRecorded, resolutionList(sum.ResolutionsByKind))
	fmt.Fprintf(w, "  verdicts        %d recorded\n", sum.VerdictsRecorded)
	if open := sum.Open(); open > 0 {
		fmt.Fprintf(w, "  open findings   %d%s\n", open, kindList(sum.OpenFindings))
	} else {
		fmt.Fprintln(w, "  open findings   none")
	}
	if sum.HorizonLag > 0 {
		fmt.Fprintf(w, "  horizon lag     %v (an open transaction holds the horizon back; rows written after it wait for it)\n",
			sum.HorizonLag.Round(time.Millisecond))
	}
}

// kindOrder is the order finding kinds are listed in; kinds not named here
// follow in alphabetical order.
var kindOrder = []string{
	reconciler.KindMissing, reconciler.KindFailed, reconciler.KindLate,
	reconciler.KindDrift, reconciler.KindStale, reconciler.KindInvalid,
}

// sortedKinds returns the keys of counts in kindOrder.
func sortedKinds(counts map[string]int) []string {
	var out []string
	known := map[string]bool{}
	for _, k := range kindOrder {
		known[k] = true
		if _, ok := counts[k]; ok {
			out = append(out, k)
		}
	}
	var rest []string
	for k := range counts {
		if !known[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// kindList renders counts as ": missing 3, drift 1", or "" when no count
// is positive.
func kindList(counts map[string]int) string {
	if s := kindCounts(counts); s != "" {
		return ": " + s
	}
	return ""
}

// kindCounts renders the positive counts as "missing 3, drift 1".
func kindCounts(counts map[string]int) string {
	var parts []string
	for _, k := range sortedKinds(counts) {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	return strings.Join(parts, ", ")
}
