package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/racledger/racledger/internal/bench"
)

const benchSynopsis = "rac bench [--clients N] [--duration DURATION] [--runs N] [--backlog-runs N] [--window-runs N] [--format table|json] [--database-url URL]"

// runBench implements `rac bench`: measure the ledger on this server, as
// pgbench measures a server, in a scratch database (rac_bench_<random>)
// created for the purpose, migrated and dropped at the end, also on error
// or SIGINT. The database named by the URL is only connected to; a role
// that may not create databases is refused.
func runBench(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "bench", benchSynopsis)
	dbURL := databaseFlag(fs, env)
	clients := fs.Int("clients", bench.DefaultClients, "clients writing at once in the ack and expect comparisons, each on its own connection")
	duration := fs.Duration("duration", bench.DefaultDuration, "timed length of each write-path comparison, per run")
	runs := fs.Int("runs", bench.DefaultRuns, "repeat everything this many times, each in a fresh scratch database (figures per run and the median)")
	backlog := fs.Int("backlog-runs", bench.DefaultBacklogRuns, "runs (five expectations each, 1% missing an ack) in the reconciler's backlog")
	window := fs.Int("window-runs", bench.DefaultWindowRuns, "runs written after the backlog pass for the window pass")
	format := fs.String("format", "table", "output `FORMAT`: table or json (one JSON object on stdout; docs/performance.md lists its fields)")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if err := checkFormat(*format); err != nil {
		return exitUsage, err
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"clients", *clients}, {"runs", *runs}, {"backlog-runs", *backlog}, {"window-runs", *window}} {
		if f.v <= 0 {
			return exitUsage, fmt.Errorf("%w: --%s %d must be positive", errUsage, f.name, f.v)
		}
	}
	if *duration <= 0 {
		return exitUsage, fmt.Errorf("%w: --duration %v must be positive", errUsage, *duration)
	}

	admin, err := connect(ctx, *dbURL)
	if err != nil {
		return exitError, err
	}
	defer admin.Close()
	stop := heartbeat(env, "bench: measuring")
	res, err := bench.Run(ctx, admin, bench.Options{Clients: *clients, Duration: *duration, Runs: *runs,
		BacklogRuns: *backlog, WindowRuns: *window, Logger: env.commandLogger()})
	stop()
	if err != nil {
		return exitError, err
	}
	if *format == formatJSON {
		return exitOK, writeJSON(env.stdout, res)
	}
	return exitOK, writeBenchTable(env.stdout, res)
}

// writeBenchTable prints one line per figure: its median, each run's value
// and what it measures.
func writeBenchTable(w io.Writer, res *bench.Result) error {
	s := res.Settings
	fmt.Fprintf(w, "rac bench: PostgreSQL %s, %d clients, %v per comparison, %d run(s), backlog %d runs, window %d runs\n\n",
		res.ServerVersion, s.Clients, time.Duration(s.DurationS*float64(time.Second)), s.Runs, s.BacklogRuns, s.WindowRuns)
	fmt.Fprintf(w, "%-20s %10s  %-6s  %s\n", "figure", "median", "unit", "per run")
	for _, f := range res.Figures {
		vals := make([]string, len(f.Values))
		for i, v := range f.Values {
			vals[i] = benchNumber(v, f.Unit)
		}
		fmt.Fprintf(w, "%-20s %10s  %-6s  %s\n", f.Name, benchNumber(f.Median, f.Unit), f.Unit, strings.Join(vals, " "))
	}
	fmt.Fprintln(w)
	for _, f := range res.Figures {
		fmt.Fprintf(w, "  %-20s %s\n", f.Name, f.Description)
	}
	return nil
}

// benchNumber formats v for its unit: ratios with three decimals, seconds
// with three, rates and counts as integers.
func benchNumber(v float64, unit string) string {
	switch unit {
	case "ratio", "s":
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
