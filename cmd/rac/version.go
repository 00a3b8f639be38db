package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

const versionSynopsis = "rac version [--format text|json]"

// buildInfo is what `rac version` prints, read from the binary's build
// information (debug.ReadBuildInfo).
type buildInfo struct {
	// Version is the module version (v1.2.3), or "devel" for a build from
	// a working tree.
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from, "" when unknown;
	// Modified reports uncommitted changes in that tree.
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Time is the commit's time (RFC 3339), "" when unknown.
	Time string `json:"time,omitempty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Module is the main module's path.
	Module string `json:"module"`
}

// readBuildInfo returns the binary's build information.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: "devel", GoVersion: runtime.Version(), Module: "github.com/racledger/racledger"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Path != "" {
		b.Module = bi.Main.Path
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			b.Time = s.Value
		}
	}
	return b
}

// String is the one-word version recorded in export manifests and
// rac_build_info: the module version, or for a working-tree build
// "devel+REVISION" (12 hex digits) with "-dirty" for uncommitted changes.
func (b buildInfo) String() string {
	if b.Version != "devel" || b.Revision == "" {
		return b.Version
	}
	s := "devel+" + b.Revision[:min(12, len(b.Revision))]
	if b.Modified {
		s += "-dirty"
	}
	return s
}

// toolVersion is the version export manifests record.
func toolVersion() string { return readBuildInfo().String() }

// runVersion implements `rac version` (and `rac --version`).
func runVersion(_ context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "version", versionSynopsis)
	format := formatFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if err := checkFormat(*format); err != nil {
		return exitUsage, err
	}
	b := readBuildInfo()
	if *format == formatJSON {
		return exitOK, writeJSON(env.stdout, b)
	}
	parts := []string{b.GoVersion}
	if b.Revision != "" {
		rev := "revision " + b.Revision
		if b.Modified {
			rev += " (modified)"
		}
		parts = append(parts, rev)
	}
	if b.Time != "" {
		parts = append(parts, b.Time)
	}
	fmt.Fprintf(env.stdout, "rac %s (%s)\n", b, strings.Join(parts, ", "))
	return exitOK, nil
}
