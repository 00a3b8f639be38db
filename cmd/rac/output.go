package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/racledger/racledger/internal/seal"
)

// Output formats of --format.
const (
	formatText = "text"
	formatJSON = "json"
)

// formatFlag defines --format text|json for a command that reports.
func formatFlag(fs *flag.FlagSet) *string {
	return fs.String("format", formatText, "output `FORMAT`: text or json (one JSON object on stdout; docs/operations.md lists its fields)")
}

// checkFormat refuses a --format other than text (or its synonym table)
// and json.
func checkFormat(f string) error {
	switch f {
	case formatText, "table", formatJSON:
		return nil
	}
	return fmt.Errorf("%w: --format %q: want text or json", errUsage, f)
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// progressEvery is how often long commands report progress on stderr. A
// variable so that tests can set it to 0: every progress report printed.
var progressEvery = 2 * time.Second

// sealProgress returns a progress hook for seal.Options and
// seal.VerifyOptions that prints, at most every progressEvery, a line in
// the format of export's progress lines, the rows counted over the whole
// command, e.g.
//
//	verify: acks 350000 of 1200000 rows, seal 3 (120000 rows/s)
//
// It returns nil (no hook) with --quiet.
func sealProgress(env *environment, command string) func(seal.Progress) {
	if env.log.quiet {
		return nil
	}
	w := env.progress()
	start := time.Now()
	last := start
	return func(p seal.Progress) {
		now := time.Now()
		if now.Sub(last) < progressEvery {
			return
		}
		last = now
		of := ""
		if p.Total > 0 {
			of = fmt.Sprintf(" of %d", p.Total)
		}
		rate := float64(p.Rows) / max(now.Sub(start).Seconds(), 1e-9)
		fmt.Fprintf(w, "%s: %s %d%s rows, seal %d (%.0f rows/s)\n", command, p.Table, p.Rows, of, p.SealID, rate)
	}
}

// heartbeat prints "what (Ns)" on the progress writer every progressEvery
// until the returned stop is called, for work that reports no progress of
// its own.
func heartbeat(env *environment, what string) (stop func()) {
	w := env.progress()
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(max(progressEvery, time.Millisecond)) // tests may set 0
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				fmt.Fprintf(w, "%s (%s)\n", what, now.Sub(start).Round(time.Second))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
