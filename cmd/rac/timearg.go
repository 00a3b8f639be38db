package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeSyntax describes the one time syntax every flag taking a time reads.
const timeSyntax = "an RFC 3339 time (2026-12-01T10:00:00Z), a date (2026-12-01, UTC midnight), " +
	"a duration back from now (90m, 24h, 7d) or now"

// timeArg is a time given on the command line: an absolute time, or a
// duration back from the database's clock (Ago; zero with Now for "now").
// Relative times are resolved against the database clock, never the
// local one.
type timeArg struct {
	At  *time.Time
	Ago time.Duration
	Now bool
}

// set reports whether a time was given.
func (t timeArg) set() bool { return t.At != nil || t.Ago > 0 || t.Now }

// resolve returns the time, relative ones taken back from dbNow.
func (t timeArg) resolve(dbNow time.Time) time.Time {
	if t.At != nil {
		return *t.At
	}
	return dbNow.Add(-t.Ago)
}

// relative reports whether resolving needs the database clock.
func (t timeArg) relative() bool { return t.At == nil && t.set() }

// parseTimeArg reads s, the value of flagName, in timeSyntax; "" is no time.
func parseTimeArg(flagName, s string) (timeArg, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return timeArg{}, nil
	case strings.EqualFold(s, "now"):
		return timeArg{Now: true}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return timeArg{At: &t}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return timeArg{At: &t}, nil
	}
	if d, ok := parseAgo(s); ok {
		if d <= 0 {
			return timeArg{}, fmt.Errorf("%w: %s %q: a duration back from now must be positive (or say now)", errUsage, flagName, s)
		}
		return timeArg{Ago: d}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if _, err := time.Parse(layout+".999999999", s); err == nil {
			return timeArg{}, fmt.Errorf("%w: %s %q has no time zone: add Z for UTC (%sZ) or an offset (%s+01:00)",
				errUsage, flagName, s, strings.Replace(s, " ", "T", 1), strings.Replace(s, " ", "T", 1))
		}
	}
	return timeArg{}, fmt.Errorf("%w: %s %q is not a time: want %s", errUsage, flagName, s, timeSyntax)
}

// parseAgo reads a Go duration (90m, 24h) or a number of days (7d) or
// weeks (2w).
func parseAgo(s string) (time.Duration, bool) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, true
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			if v, err := strconv.ParseFloat(n, 64); err == nil {
				return time.Duration(v * float64(unit)), true
			}
		}
	}
	return 0, false
}
