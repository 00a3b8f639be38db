package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
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
