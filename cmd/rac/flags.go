package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/reconciler"
)

// graceEnv is the environment variable holding the grace added to every
// deadline before an unacked expectation is missing.
const graceEnv = "RAC_GRACE"

// errHelp reports that the user asked for a subcommand's help; the
// helpError that wraps it carries the text, which run prints on stdout
// (exit 0).
var errHelp = errors.New("help requested")

// helpError is a request for help with the text to print.
type helpError struct{ text string }

func (e *helpError) Error() string { return errHelp.Error() }
func (e *helpError) Unwrap() error { return errHelp }

// newFlagSet returns a flag set for a subcommand whose usage line is
// synopsis, with the flags every command takes (--log-format,
// --log-level, --quiet). It prints nothing itself: help comes back as a
// helpError, a malformed line as an errUsage error, and run prints either.
func newFlagSet(env *environment, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s\n", synopsis)
		for _, c := range commands() {
			if c.name == name {
				fmt.Fprintf(w, "\n%s.\n", strings.ToUpper(c.summary[:1])+c.summary[1:])
			}
		}
		fmt.Fprintf(w, "\nflags (and arguments) may come in any order; --flag=value and --flag value both work:\n")
		printDefaults(w, fs)
	}
	commonFlags(fs, env)
	return fs
}

// printDefaults lists fs's flags as --name VALUE with their usage and
// default, like flag.PrintDefaults but spelled with two dashes.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		name = cmp.Or(valueNames[name], name)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch f.DefValue {
		case "", "0", "false", "0s", "[]":
		default:
			if name == "TEXT" || name == "URL" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(w, " (default %v)", f.DefValue)
			}
		}
		fmt.Fprintln(w)
	})
}

// valueNames spell flag's type names as placeholders.
var valueNames = map[string]string{
	"string": "TEXT", "int": "N", "uint": "N", "int64": "N", "uint64": "N", "float": "X", "duration": "DURATION", "value": "VALUE",
}

// parseArgs parses args into fs, flags and positional arguments in any
// order ("--" ends the flags), and returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(fs, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseFlags parses args into fs and refuses positional arguments (but
// for a lone "help", which asks for help). It returns a helpError for -h
// and an errUsage error for anything malformed.
func parseFlags(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && pos[0] == "help":
		return helpFor(fs)
	case len(pos) > 0:
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, pos)
	}
	return nil
}

// parsePositional parses args into fs for a subcommand taking one
// positional argument, which may come before, among or after the flags,
// and returns it ("" when none was given). Errors are parseFlags's.
func parsePositional(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	switch len(pos) {
	case 0:
		return "", nil
	case 1:
		if pos[0] == "help" {
			return "", helpFor(fs)
		}
		return pos[0], nil
	}
	return "", fmt.Errorf("%w: one argument expected, got %q", errUsage, pos)
}

// helpFor returns the helpError carrying fs's usage.
func helpFor(fs *flag.FlagSet) error {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.Usage()
	fs.SetOutput(io.Discard)
	return &helpError{text: b.String()}
}

// flagError turns an error of fs.Parse into a helpError or an errUsage
// error, with the flag spelled --name.
func flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return helpFor(fs)
	}
	return fmt.Errorf("%w: %s", errUsage, dashes(err.Error()))
}

// dashes respells the flag package's messages with --name.
func dashes(msg string) string {
	msg = strings.Replace(msg, "flag provided but not defined: -", "unknown flag --", 1)
	msg = strings.Replace(msg, "for flag -", "for flag --", 1)
	return strings.Replace(msg, "flag needs an argument: -", "flag needs an argument: --", 1)
}

// hashVar defines a flag taking a hash in hex (as canon.ParseHash reads
// it) that sets *p when given; *p stays nil otherwise, or when the value
// is empty. A malformed hash is a parse error.
func hashVar(fs *flag.FlagSet, p **canon.Hash, name, usage string) {
	fs.Func(name, usage, func(s string) error {
		if s == "" {
			*p = nil
			return nil
		}
		h, err := canon.ParseHash(s)
		if err != nil {
			return err
		}
		*p = &h
		return nil
	})
}

// flagWasSet reports whether name was given on the command line.
func flagWasSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// parseError turns the result of parseFlags into a subcommand's return;
// run prints a help request's text on stdout (exit 0).
func parseError(err error) (int, error) {
	if errors.Is(err, errHelp) {
		return exitOK, err
	}
	return exitUsage, err
}

// graceFromEnv reads RAC_GRACE, a Go duration (default 0s). A malformed or
// negative value is a usage error.
func graceFromEnv(env *environment) (time.Duration, error) {
	raw := strings.TrimSpace(env.getenv(graceEnv))
	if raw == "" {
		return 0, nil
	}
	grace, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not a duration (e.g. 30s, 5m): %v", errUsage, graceEnv, raw, err)
	}
	if grace < 0 {
		return 0, fmt.Errorf("%w: %s=%q must not be negative", errUsage, graceEnv, raw)
	}
	return grace, nil
}

// passTimeoutFlag defines --pass-timeout for the commands that run passes.
func passTimeoutFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("pass-timeout", 0,
		"stop a pass after this long: the batch in flight commits and the next pass takes up the rest (0: no bound)")
}

// reconcilerOptions returns the options every subcommand builds its
// reconciler with: RAC_GRACE, the batch size (0: the default), the pass
// timeout (0: none) and a logger.
func reconcilerOptions(env *environment, batchSize int, passTimeout time.Duration, logger *slog.Logger) (reconciler.Options, error) {
	grace, err := graceFromEnv(env)
	if err != nil {
		return reconciler.Options{}, err
	}
	if batchSize < 0 {
		return reconciler.Options{}, fmt.Errorf("%w: --batch-size %d must not be negative", errUsage, batchSize)
	}
	if passTimeout < 0 {
		return reconciler.Options{}, fmt.Errorf("%w: --pass-timeout %v must not be negative", errUsage, passTimeout)
	}
	return reconciler.Options{Grace: grace, BatchSize: batchSize, PassTimeout: passTimeout, Logger: logger}, nil
}
