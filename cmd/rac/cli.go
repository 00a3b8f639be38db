package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/racledger/racledger/internal/seal"
)

// exitInterrupted is the exit code of a command stopped by SIGINT (128 +
// the signal number, as shells report it).
const exitInterrupted = 130

// signalError is the cancellation cause of the context main passes to run
// when a signal arrives.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

// exitCodeOf returns 128 + the signal's number (130 for SIGINT).
func (e signalError) exitCode() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return exitInterrupted
}

// interrupted reports whether ctx was cancelled (by a signal or a caller)
// and the exit code that says so.
func interrupted(ctx context.Context) (int, bool) {
	if ctx.Err() == nil {
		return 0, false
	}
	var se signalError
	if errors.As(context.Cause(ctx), &se) {
		return se.exitCode(), true
	}
	return exitInterrupted, true
}

// logSettings are the --log-format, --log-level and --quiet flags every
// command accepts (before or after its name). Setting one rebuilds the
// environment's logger at once, so flag order does not matter.
type logSettings struct {
	format string // text or json
	level  slog.Level
	quiet  bool
}

type logFormatFlag struct{ env *environment }

func (f logFormatFlag) String() string {
	if f.env == nil {
		return "text"
	}
	return f.env.log.format
}

func (f logFormatFlag) Set(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("want text or json")
	}
	f.env.log.format = s
	f.env.rebuildLogger()
	return nil
}

type logLevelFlag struct{ env *environment }

func (f logLevelFlag) String() string {
	if f.env == nil {
		return "info"
	}
	return strings.ToLower(f.env.log.level.String())
}

func (f logLevelFlag) Set(s string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("want debug, info, warn or error")
	}
	f.env.log.level = l
	f.env.rebuildLogger()
	return nil
}

type quietFlag struct{ env *environment }

func (f quietFlag) String() string   { return "false" }
func (f quietFlag) IsBoolFlag() bool { return true }
func (f quietFlag) Set(s string) error {
	v, err := parseBool(s)
	if err != nil {
		return err
	}
	f.env.log.quiet = v
	f.env.rebuildLogger()
	return nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "t", "true", "yes":
		return true, nil
	case "0", "f", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("want true or false")
}

// commonFlags registers --log-format, --log-level and --quiet on fs.
func commonFlags(fs *flag.FlagSet, env *environment) {
	fs.Var(logFormatFlag{env}, "log-format", "log line `FORMAT` on stderr: text or json")
	fs.Var(logLevelFlag{env}, "log-level", "least severe log `LEVEL` shown: debug, info, warn or error")
	fs.Var(quietFlag{env}, "quiet", "no progress lines and no logs below warn on stderr (results and errors still print)")
}

// rebuildLogger makes env.logger follow env.log.
func (env *environment) rebuildLogger() {
	env.logger = slog.New(env.handler(env.effectiveLevel(), false))
}

func (env *environment) effectiveLevel() slog.Level {
	if env.log.quiet {
		return max(env.log.level, slog.LevelWarn)
	}
	return env.log.level
}

// handler returns a slog handler on stderr in the chosen format at level
// or above; dropErrors drops records at LevelError and above (for
// commands that return, and so print, their error themselves).
func (env *environment) handler(level slog.Level, dropErrors bool) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if env.log.format == "json" {
		h = slog.NewJSONHandler(env.stderr, opts)
	} else {
		h = slog.NewTextHandler(env.stderr, opts)
	}
	if dropErrors {
		h = belowError{h}
	}
	return h
}

// commandLogger logs warnings only (no errors: the command prints the one
// it returns), for commands that print their own account of the work.
func (env *environment) commandLogger() *slog.Logger {
	return slog.New(env.handler(max(env.log.level, slog.LevelWarn), true))
}

// progress is where progress lines go: stderr, or nowhere with --quiet.
func (env *environment) progress() io.Writer {
	if env.log.quiet {
		return io.Discard
	}
	return env.stderr
}

// belowError is a handler that drops records at LevelError and above.
type belowError struct{ slog.Handler }

func (h belowError) Enabled(ctx context.Context, l slog.Level) bool {
	return l < slog.LevelError && h.Handler.Enabled(ctx, l)
}

func (h belowError) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h belowError) WithAttrs(a []slog.Attr) slog.Handler { return belowError{h.Handler.WithAttrs(a)} }
func (h belowError) WithGroup(n string) slog.Handler      { return belowError{h.Handler.WithGroup(n)} }

// parseGlobal reads the flags given before the command name (--database-url,
// --log-format, --log-level, --quiet, --version, --help) and returns the
// rest of the line, whose first element is the command.
func parseGlobal(env *environment, args []string) (rest []string, version, help bool, err error) {
	fs := flag.NewFlagSet("rac", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(databaseURLFlag{&env.databaseURL}, "database-url", "")
	commonFlags(fs, env)
	fs.BoolVar(&version, "version", false, "")
	for i, a := range args {
		if a == "--version" || a == "-version" {
			// rac --version [--format json]: the rest are version's flags.
			if err := fs.Parse(args[:i]); err != nil {
				return nil, false, false, fmt.Errorf("%w: %s", errUsage, dashes(err.Error()))
			}
			return append([]string{"version"}, args[i+1:]...), false, false, nil
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, false, true, nil
		}
		return nil, false, false, fmt.Errorf("%w: %s", errUsage, dashes(err.Error()))
	}
	return fs.Args(), version, false, nil
}

// migrateHint returns a hint when err says the ledger's schema (or part of
// it) is missing: an unmigrated or partly migrated database.
func migrateHint(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return ""
	}
	switch pgErr.Code {
	case "42P01", "3F000", "42883", "42703": // undefined table, schema, function, column
		return "the database lacks the ledger schema (or this version of it): run `rac migrate up`"
	}
	return ""
}

// isEvidenceCommand reports whether command is a read-only evidence
// command: verify, prove or export.
func isEvidenceCommand(command string) bool {
	switch command {
	case "verify", "prove", "export":
		return true
	}
	return false
}

// privilegeHint returns a hint when a read-only evidence command (verify,
// prove, export) was refused a table or view: it reads the ledger tables
// (operators) or the audit views of migration 00014 (rac_auditor).
func privilegeHint(command string, err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !isEvidenceCommand(command) {
		return ""
	}
	return "this login may read neither the ledger tables nor the audit views rac " + command + " reads: run it as a " +
		"member of rac_auditor (which reads the audit views; run `rac migrate up` if the database predates them) or " +
		"of rac_reconciler (read-only commands write nothing, on a primary or a standby)"
}

// partialViewHint returns a hint when an evidence command was refused
// because the login sees only some tenants: every seal covers the rows of
// every tenant.
func partialViewHint(command string, err error) string {
	if !errors.Is(err, seal.ErrPartialView) || !isEvidenceCommand(command) {
		return ""
	}
	return "this login sees only some tenants (rac.tenant_roles pins it, or rac.tenant names one), and every seal " +
		"covers the rows of every tenant, including those it cannot see: it cannot verify seals, prove rows or export " +
		"by seal range. It can export its tenants' rows by time range (--from/--to). To verify, use a login that sees " +
		"every tenant: a member of rac_auditor mapped to every tenant (tenant_id NULL in rac.tenant_roles), or of rac_reconciler"
}

// plainError rewrites the Go jargon of cancellation into words.
func plainError(err error) string {
	msg := err.Error()
	for _, s := range []string{": context canceled", ": context deadline exceeded"} {
		msg = strings.ReplaceAll(msg, s, "")
	}
	return msg
}
