package main

import (
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

// errHelp reports that the user asked for a subcommand's help: its usage
// was printed and the command exits 0.
var errHelp = errors.New("help requested")

// newFlagSet returns a flag set for a subcommand whose usage line is
// synopsis; parse errors and -h go to stderr.
func newFlagSet(env *environment, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "usage: %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs and refuses positional arguments. It
// returns errHelp for -h and an errUsage error for anything malformed.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}

// parsePositional parses args into fs for a subcommand taking one
// positional argument, which may come before, among or after the flags,
// and returns it ("" when none was given). Errors are parseFlags's.
func parsePositional(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	} else {
		// Flags first: the argument, if any, stops fs.Parse; flags after it
		// are parsed below.
		if err := fs.Parse(args); err != nil {
			return "", flagError(err)
		}
		if fs.NArg() == 0 {
			return "", nil
		}
		arg, args = fs.Arg(0), fs.Args()[1:]
	}
	return arg, parseFlags(fs, args)
}

// flagError turns an error of fs.Parse into errHelp or an errUsage error.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return fmt.Errorf("%w: %v", errUsage, err)
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

// parseError turns the result of parseFlags into a subcommand's return.
func parseError(err error) (int, error) {
	if errors.Is(err, errHelp) {
		return exitOK, nil
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

// quietLogger logs warnings and errors only, for commands that print their
// own account of what the reconciler did.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
