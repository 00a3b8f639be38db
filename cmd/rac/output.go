package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"
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

// progressEvery is how often long commands report progress on stderr.
const progressEvery = 2 * time.Second

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
		t := time.NewTicker(progressEvery)
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
