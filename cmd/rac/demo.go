package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/internal/demo"
	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pglocal"
	"github.com/racledger/racledger/internal/seal"
	"github.com/racledger/racledger/reconciler"
)

const demoSynopsis = "rac demo [--runs N] [--seed S] [--data-dir DIR | --database-url URL [--into-existing-ledger]] [--deadline 2s] [--workers 8]"

// intoExistingName is the flag that lets the demo write into a database
// whose ledger already holds rows or seals.
const intoExistingName = "into-existing-ledger"

// demoSamplePerKind is how many open findings of each kind the demo's
// report lists.
const demoSamplePerKind = 3

// runDemo implements `rac demo`: on the given database (refused when its
// ledger already holds rows or seals, unless --into-existing-ledger), or
// on an embedded PostgreSQL when there is none, it migrates, simulates runs with injected
// faults, reconciles them, prints the report and compares what was found
// with what was injected: exit 0 when they match, 1 when they do not.
func runDemo(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "demo", demoSynopsis)
	dbURL := databaseFlag(fs, env)
	runs := fs.Int("runs", demo.DefaultRuns, "runs to simulate")
	seed := fs.Uint64("seed", 1, "seed of the fault assignment (same seed, same faults)")
	dataDir := fs.String("data-dir", "", "data directory of the embedded PostgreSQL, kept between demos (default: a temporary one, removed on exit)")
	deadline := fs.Duration("deadline", demo.DefaultDeadline, "deadline of every expectation (the demo waits it out once)")
	workers := fs.Int("workers", demo.DefaultWorkers, "goroutines writing runs at once")
	intoExisting := fs.Bool(intoExistingName, false,
		"write the demo's fake runs into a database whose ledger already holds rows or seals (they are append-only and sealed: never removable)")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	switch {
	case *runs <= 0:
		return exitUsage, fmt.Errorf("%w: --runs %d must be positive", errUsage, *runs)
	case *deadline <= 0:
		return exitUsage, fmt.Errorf("%w: --deadline %v must be positive", errUsage, *deadline)
	case *workers <= 0:
		return exitUsage, fmt.Errorf("%w: --workers %d must be positive", errUsage, *workers)
	case *dataDir != "" && *dbURL != "":
		return exitUsage, fmt.Errorf("%w: --data-dir is for the embedded PostgreSQL; a database URL was given", errUsage)
	}
	opts, err := reconcilerOptions(env, 0, 0, env.commandLogger())
	if err != nil {
		return exitUsage, err
	}
	opts.Name = "rac demo"

	url, where := *dbURL, "the database at "+redactURL(*dbURL)
	if url == "" {
		cluster, err := pglocal.Start(ctx, pglocal.Options{DataDir: *dataDir, Logger: env.logger})
		if err != nil {
			return exitError, fmt.Errorf("start embedded PostgreSQL: %w", err)
		}
		defer stopCluster(ctx, env, cluster)
		url = cluster.URL("postgres")
		where = "an embedded PostgreSQL in " + cluster.DataDir()
	}
	pool, err := connect(ctx, url, func(cfg *pgxpool.Config) { cfg.MaxConns = int32(*workers + 2) })
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	if *dbURL != "" && !*intoExisting {
		// Only a database the user named can be their ledger; the
		// embedded PostgreSQL is the demo's own.
		held, err := migrate.Evidence(ctx, pool)
		if err != nil {
			return exitError, err
		}
		if len(held) > 0 {
			return exitError, fmt.Errorf("refusing to write into %s: its ledger already holds rows (in %s), "+
				"and the demo's fake runs could never be removed from it; unset DATABASE_URL to run the demo "+
				"on an embedded PostgreSQL, or pass --%s", redactURL(*dbURL), strings.Join(held, ", "), intoExistingName)
		}
	}
	if err := migrate.Up(ctx, pool, env.commandLogger()); err != nil {
		return exitError, err
	}
	rec, err := reconciler.New(pool, opts)
	if err != nil {
		return exitError, fmt.Errorf("create reconciler: %w", err)
	}

	fmt.Fprintf(env.stdout, "rac demo: %d runs (seed %d), deadline %v, grace %v, %d writers, on %s\n\n",
		*runs, *seed, *deadline, opts.Grace, *workers, where)
	res, err := demo.Run(ctx, pool, demo.Options{
		Runs: *runs, Seed: *seed, Deadline: *deadline, Grace: opts.Grace, Workers: *workers,
		Reconciler: rec, Progress: env.progress(), Logger: env.logger,
	})
	if err != nil {
		return exitError, err
	}

	writeSteps(env.stdout, res)
	for _, sum := range res.Passes {
		writeSummary(env.stdout, sum)
	}
	fmt.Fprintln(env.stdout)
	rep, err := readReport(ctx, pool, reportFilter{}, timeArg{At: &res.StartedAt})
	if err != nil {
		return exitError, err
	}
	writeReportTable(env.stdout, rep, samplePerKind(rep.OpenFindings, demoSamplePerKind))
	fmt.Fprintln(env.stdout)
	writeCheck(env.stdout, res.Check)
	if !res.Check.OK() {
		return exitError, fmt.Errorf("the reconciler's findings differ from the injected faults: %s",
			strings.Join(append(res.Check.Differ(), mismatchNote(res.Check)...), ", "))
	}
	if err := sealDemo(ctx, env, pool); err != nil {
		return exitError, err
	}
	return exitOK, nil
}

// sealDemo seals what the demo wrote and verifies the new seal against the
// rows, as `rac seal` and `rac verify --from N` would.
func sealDemo(ctx context.Context, env *environment, pool *pgxpool.Pool) error {
	sealed, err := seal.Seal(ctx, pool)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	if !sealed.Sealed {
		fmt.Fprintln(env.stdout, "\nsealed: nothing new was final")
		return nil
	}
	rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{From: sealed.Seal.ID})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if rep.Tamper != nil {
		return fmt.Errorf("verify the demo's seal: %s", rep.Tamper)
	}
	fmt.Fprintf(env.stdout, "\nsealed %d rows: %s (publish it; `rac verify --head` checks the chain against it)\n",
		sealed.Rows, sealed.Head)
	fmt.Fprintf(env.stdout, "verify: intact, the seal's %d rows recomputed to its Merkle root\n", rep.Rows)
	return nil
}

// samplePerKind returns the first n findings of each kind, grouped by kind
// in report order.
func samplePerKind(findings []openFinding, n int) []openFinding {
	byKind := map[string][]openFinding{}
	for _, f := range findings {
		if len(byKind[f.Kind]) < n {
			byKind[f.Kind] = append(byKind[f.Kind], f)
		}
	}
	counts := map[string]int{}
	for k, fs := range byKind {
		counts[k] = len(fs)
	}
	var out []openFinding
	for _, k := range sortedKinds(counts) {
		out = append(out, byKind[k]...)
	}
	return out
}

// stopCluster stops the embedded PostgreSQL, even when ctx was cancelled.
func stopCluster(ctx context.Context, env *environment, c *pglocal.Cluster) {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		env.logger.Error("demo: stop embedded PostgreSQL", slog.Any("error", err))
	}
}

// writeSteps prints how long each step of the demo took.
func writeSteps(w io.Writer, res demo.Result) {
	late := 0
	for _, r := range res.Runs {
		if r.Fault == demo.FaultLate {
			late++
		}
	}
	fmt.Fprintf(w, "wrote %d runs in %v (%.0f runs/s), waited %v for the deadlines, wrote %d late acks in %v,\n",
		len(res.Runs), res.Write.Round(time.Millisecond), float64(len(res.Runs))/max(res.Write.Seconds(), 1e-3),
		res.Wait.Round(time.Millisecond), late, res.Late.Round(time.Millisecond))
	fmt.Fprintf(w, "reconciled in %v (%d pass(es)); demo total %v\n\n",
		res.Reconcile.Round(time.Millisecond), len(res.Passes), res.Total.Round(time.Millisecond))
}

// writeCheck prints the injected and found counts side by side and the
// verdict of the comparison.
func writeCheck(w io.Writer, c demo.Check) {
	fmt.Fprintln(w, "injected vs found:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tINJECTED\tFOUND\t\tNOTE")
	for _, n := range c.Counts {
		mark := "ok"
		if n.Injected != n.Found {
			mark = "DIFFERS"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\n", n.Name, n.Injected, n.Found, mark, n.Note)
	}
	_ = tw.Flush() // errors surface on w's next write
	for _, f := range c.Unexpected {
		fmt.Fprintf(w, "  found but not injected: %s\n", f)
	}
	for _, f := range c.Unfound {
		fmt.Fprintf(w, "  injected but not found: %s\n", f)
	}
	if c.OK() {
		fmt.Fprintln(w, "result: OK, the reconciler found every injected fault and nothing else")
		return
	}
	fmt.Fprintf(w, "result: MISMATCH (%s)\n", strings.Join(append(c.Differ(), mismatchNote(c)...), ", "))
}

// mismatchNote describes individual findings that differ.
func mismatchNote(c demo.Check) []string {
	var out []string
	if c.UnexpectedTotal > 0 {
		out = append(out, fmt.Sprintf("%d finding(s) not injected", c.UnexpectedTotal))
	}
	if c.UnfoundTotal > 0 {
		out = append(out, fmt.Sprintf("%d injected finding(s) not found", c.UnfoundTotal))
	}
	return out
}
