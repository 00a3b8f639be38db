// Command rac is the RAC Ledger binary: migrations, the reconciler (once,
// scheduled, or as a service with metrics), sealing and verification,
// reports, waivers, exports and a demo.
//
// Usage:
//
//	rac migrate [up|down|status] [--destroy-evidence] [--database-url URL]
//	rac reconcile (--once | --every DURATION) [--batch-size N] [--pass-timeout DURATION]
//	rac serve --listen ADDR [--every 30s] [--seal-every 5m] [--verify-every 1h] [--batch-size N] [--pass-timeout DURATION]
//	rac seal
//	rac verify [--from SEAL] [--head HASH]
//	rac prove --table T --id N [--out FILE]
//	rac verify-proof FILE [--head HASH]
//	rac report [--run ID] [--since DURATION|RFC3339] [--tenant NAME] [--format table|json]
//	rac waive FINDING_ID --reason TEXT --actor NAME [--tenant NAME]
//	rac demo [--runs N] [--seed S] [--data-dir DIR | --database-url URL [--into-existing-ledger]]
//	rac export (--from TIME --to TIME | --seals A..B) --out DIR [--format csv|jsonl|parquet] [--tenant NAME] [--sign-key FILE] [--force]
//	rac verify-export DIR [--pub-key FILE] [--head HASH]
//	rac keygen --out PREFIX
//
// The database comes from --database-url or DATABASE_URL (a libpq URL or
// key=value string); `rac demo` starts an embedded PostgreSQL when there is
// none. RAC_GRACE (a Go duration, default 0s) is the grace after a deadline
// before an unacked expectation is missing. Exit codes: 0 ok, 1 error,
// 2 usage, 3 findings open (reconcile --once, report), 4 tampered (verify, verify-proof, verify-export).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every subcommand (see DESIGN.md).
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitViolated = 3
	exitTampered = 4
	// exitCannotTell: rac report cannot say nothing is open (no finished
	// pass covers the time asked).
	exitCannotTell = 5
)

// errUsage marks an error that is the caller's command line, not the work.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// command is one subcommand of rac.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) (int, error)
}

// environment is what a subcommand may touch; tests pass their own.
type environment struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	logger *slog.Logger
}

func commands() []command {
	return []command{
		{name: "migrate", summary: "apply, reverse or list schema migrations (up|down|status)", run: runMigrate},
		{name: "reconcile", summary: "reconcile expectations and acks once (--once) or on a schedule (--every)", run: runReconcile},
		{name: "serve", summary: "reconcile on a schedule and serve /metrics, /healthz and /readyz", run: runServe},
		{name: "seal", summary: "seal the rows final since the last seal; prints the head to publish", run: runSeal},
		{name: "verify", summary: "recompute every seal, check the chain and count unsealed rows (exit 4: tampered, or rows but no seal)", run: runVerify},
		{name: "prove", summary: "print the inclusion proof of one row in its seal", run: runProve},
		{name: "verify-proof", summary: "check an inclusion proof offline (exit 4: invalid)", run: runVerifyProof},
		{name: "report", summary: "print verdicts, open findings, closed findings by resolution and a run's history", run: runReport},
		{name: "waive", summary: "close an open finding with a reason (needs the rac_waiver role)", run: runWaive},
		{name: "export", summary: "export a time range or a run of seals to CSV, JSON Lines or Parquet files with a manifest", run: runExport},
		{name: "verify-export", summary: "check an export's files, rows, seals and signature against its manifest", run: runVerifyExport},
		{name: "keygen", summary: "write an ed25519 key pair for signing exports", run: runKeygen},
		{name: "demo", summary: "simulate runs with injected faults, reconcile them and check the findings", run: runDemo},
	}
}

// run executes rac with args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	env := &environment{
		stdout: stdout,
		stderr: stderr,
		getenv: getenv,
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		code, err := c.run(ctx, env, args[1:])
		if err != nil {
			// connect already redacts; this also covers an error that
			// quotes a connection string given anywhere on the line.
			fmt.Fprintf(stderr, "rac %s: %s\n", c.name, scrub(err.Error(), secretsOf(args, getenv)))
			if errors.Is(err, errUsage) {
				return exitUsage
			}
			if code == exitOK {
				code = exitError
			}
		}
		return code
	}
	fmt.Fprintf(stderr, "rac: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: rac <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The database comes from --database-url or DATABASE_URL; RAC_GRACE sets the grace after deadlines.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 error, 2 usage, 3 findings open, 4 tampered. `rac <command> -h` lists a command's flags.")
}
