// Command rac is the RAC Ledger binary: migrations, the reconciler (once,
// scheduled, or as a service with metrics), sealing and verification,
// reports, waivers, exports and a demo.
//
// Usage (flags and arguments in any order; `rac help CMD` for each
// command's flags):
//
//	rac [--database-url URL] [--log-format text|json] [--log-level LEVEL] [--quiet] <command> ...
//	rac migrate [up|down|status] [--destroy-evidence] [--format text|json]
//	rac reconcile (--once | --every DURATION) [--batch-size N] [--pass-timeout DURATION] [--format text|json]
//	rac serve --listen ADDR [--every 30s] [--seal-every 5m] [--verify-every 1h] [--batch-size N] [--pass-timeout DURATION]
//	rac seal [--format text|json]
//	rac verify [--from SEAL] [--head HASH] [--format text|json]
//	rac prove --table T --id N [--out FILE]
//	rac verify-proof FILE [--head HASH] [--format text|json]
//	rac report [--run ID] [--since TIME] [--kind KINDS] [--limit N] [--tenant NAME] [--format table|json]
//	rac waive FINDING_ID --reason TEXT --actor NAME [--tenant NAME]
//	rac demo [--runs N] [--seed S] [--data-dir DIR | --database-url URL [--into-existing-ledger]]
//	rac export (--from TIME --to TIME | --seals A..B) --out DIR [--format csv|jsonl|parquet] [--tenant NAME] [--sign-key FILE] [--force]
//	rac verify-export DIR [--pub-key FILE] [--head HASH] [--format text|json]
//	rac keygen --out PREFIX
//	rac version [--format text|json]
//	rac bench [--clients N] [--duration DURATION] [--runs N] [--format table|json]
//
// The database comes from --database-url, else DATABASE_URL (a libpq URL
// or key=value string), else the libpq variables (PGHOST, PGUSER, ...) and
// ~/.pgpass; `rac demo` starts an embedded PostgreSQL when there is none.
// RAC_GRACE (a Go duration, default 0s) is the grace after a deadline
// before an unacked expectation is missing. Times are RFC 3339, a date, a
// duration back from now or now. Exit codes: 0 ok, 1 error, 2 usage,
// 3 findings open (reconcile --once, report), 4 tampered (verify,
// verify-proof, verify-export), 5 cannot tell (report), 130 interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes shared by every subcommand (docs/design.md, "Contract").
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitViolated = 3
	exitTampered = 4
	// exitCannotTell: rac report cannot say nothing is open (no finished
	// pass covers the time asked).
	exitCannotTell = 5
	// exitRolledBack: rac verify found the published head missing from a
	// server on a later timeline (promoted or restored): evidence was lost
	// in a failover or restore, which is not shown as tampering.
	exitRolledBack = 6
)

// errUsage marks an error that is the caller's command line, not the work.
var errUsage = errors.New("usage")

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if sig, ok := <-sigs; ok {
			cancel(signalError{sig})
		}
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	signal.Stop(sigs)
	cancel(nil)
	os.Exit(code)
}

// command is one subcommand of rac.
type command struct {
	name     string
	synopsis string
	summary  string
	run      func(ctx context.Context, env *environment, args []string) (int, error)
}

// environment is what a subcommand may touch; tests pass their own.
type environment struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	logger *slog.Logger
	// log holds --log-format, --log-level and --quiet.
	log logSettings
	// databaseURL is --database-url given before the command; it takes
	// the place of DATABASE_URL.
	databaseURL string
}

func commands() []command {
	return []command{
		{name: "migrate", synopsis: migrateSynopsis, summary: "apply, reverse or list schema migrations (up|down|status)", run: runMigrate},
		{name: "reconcile", synopsis: reconcileSynopsis, summary: "reconcile expectations and acks once (--once) or on a schedule (--every)", run: runReconcile},
		{name: "serve", synopsis: serveSynopsis, summary: "reconcile on a schedule and serve /metrics, /healthz and /readyz", run: runServe},
		{name: "seal", synopsis: sealSynopsis, summary: "seal the rows final since the last seal; prints the head to publish", run: runSeal},
		{name: "verify", synopsis: verifySynopsis, summary: "recompute every seal, check the chain and count unsealed rows (exit 4: tampered, or rows but no seal)", run: runVerify},
		{name: "prove", synopsis: proveSynopsis, summary: "print the inclusion proof of one row in its seal", run: runProve},
		{name: "verify-proof", synopsis: verifyProofSynopsis, summary: "check an inclusion proof offline (exit 4: invalid)", run: runVerifyProof},
		{name: "report", synopsis: reportSynopsis, summary: "print verdicts, open findings, closed findings by resolution and a run's history", run: runReport},
		{name: "waive", synopsis: waiveSynopsis, summary: "close an open finding with a reason (needs the rac_waiver role)", run: runWaive},
		{name: "export", synopsis: exportSynopsis, summary: "export a time range or a run of seals to CSV, JSON Lines or Parquet files with a manifest", run: runExport},
		{name: "verify-export", synopsis: verifyExportSynopsis, summary: "check an export's files, rows, seals and signature against its manifest", run: runVerifyExport},
		{name: "keygen", synopsis: keygenSynopsis, summary: "write an ed25519 key pair for signing exports", run: runKeygen},
		{name: "version", synopsis: versionSynopsis, summary: "print rac's version, its source revision and Go version", run: runVersion},
		{name: "bench", synopsis: benchSynopsis, summary: "measure the ledger on this server in a scratch database it creates and drops (like pgbench)", run: runBench},
		{name: "demo", synopsis: demoSynopsis, summary: "simulate runs with injected faults, reconcile them and check the findings", run: runDemo},
	}
}

// run executes rac with args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	env := &environment{
		stdout: stdout,
		stderr: stderr,
		getenv: getenv,
		log:    logSettings{format: "text", level: slog.LevelInfo},
	}
	env.rebuildLogger()
	args, version, help, err := parseGlobal(env, args)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "rac: %s\nrun `rac help` for the commands and their flags\n", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	case version:
		args = []string{"version"}
	case help:
		usage(stdout)
		return exitOK
	case len(args) == 0:
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" {
		if len(args) == 1 {
			usage(stdout)
			return exitOK
		}
		name, args = args[1], []string{name, "--help"}
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		code, err := c.run(ctx, env, args[1:])
		return finish(ctx, env, c, code, err, secretsOf(args, getenv))
	}
	fmt.Fprintf(stderr, "rac: unknown command %q\nrun `rac help` for the commands\n", name)
	return exitUsage
}

// finish prints a command's error, once, and returns its exit code: help
// text goes to stdout (exit 0); an error after an interrupt is exit 130
// (SIGINT) in plain words; a usage error repeats the synopsis; an error
// of a missing schema hints at `rac migrate up`.
func finish(ctx context.Context, env *environment, c command, code int, err error, secrets []string) int {
	var he *helpError
	if errors.As(err, &he) {
		fmt.Fprint(env.stdout, he.text)
		return exitOK
	}
	if err == nil {
		return code
	}
	// connect already redacts; this also covers an error that quotes a
	// connection string given anywhere on the line.
	msg := scrub(plainError(err), secrets)
	if errors.Is(err, errUsage) {
		fmt.Fprintf(env.stderr, "rac %s: %s\nusage: %s\nrun `rac help %s` for every flag\n",
			c.name, strings.TrimPrefix(msg, "usage: "), c.synopsis, c.name)
		return exitUsage
	}
	if sigCode, ok := interrupted(ctx); ok {
		fmt.Fprintf(env.stderr, "rac %s: interrupted, stopped before the end (%s)\n", c.name, msg)
		return sigCode
	}
	fmt.Fprintf(env.stderr, "rac %s: %s\n", c.name, msg)
	if hint := migrateHint(err); hint != "" {
		fmt.Fprintf(env.stderr, "hint: %s\n", hint)
	}
	if hint := privilegeHint(c.name, err); hint != "" {
		fmt.Fprintf(env.stderr, "hint: %s\n", hint)
	}
	if hint := partialViewHint(c.name, err); hint != "" {
		fmt.Fprintf(env.stderr, "hint: %s\n", hint)
	}
	if code == exitOK {
		code = exitError
	}
	return code
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: rac [--database-url URL] [--log-format text|json] [--log-level LEVEL] [--quiet] <command> [flags and arguments, in any order]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The database comes from --database-url, else DATABASE_URL, else the libpq variables (PGHOST, PGPORT,")
	fmt.Fprintln(w, "PGDATABASE, PGUSER, PGPASSWORD, PGSERVICE, PGSSLMODE) and ~/.pgpass. RAC_GRACE sets the grace after deadlines.")
	fmt.Fprintln(w, "Times: RFC 3339 (2026-12-01T10:00:00Z), a date (2026-12-01, UTC midnight), a duration back from now (24h, 7d) or now.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 error, 2 usage, 3 findings open, 4 tampered, 5 cannot tell, 130 interrupted.")
	fmt.Fprintln(w, "`rac help <command>` (or `rac <command> --help`) lists a command's flags; `rac version` prints the version.")
}
