package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every case fails before touching a database, so none is given.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{name: "no command", args: nil},
		{name: "unknown command", args: []string{"frobnicate"}},
		{name: "reconcile without --once or --every", args: []string{"reconcile"}},
		{name: "reconcile with --once and --every", args: []string{"reconcile", "--once", "--every", "1s"}},
		{name: "reconcile with a zero interval", args: []string{"reconcile", "--every", "0s"}},
		{name: "reconcile with a negative batch size", args: []string{"reconcile", "--once", "--batch-size", "-1"}},
		{name: "reconcile with an unknown flag", args: []string{"reconcile", "--once", "--bogus"}},
		{name: "reconcile with a positional argument", args: []string{"reconcile", "--once", "extra"}},
		{name: "bad RAC_GRACE", env: map[string]string{"RAC_GRACE": "soon"}, args: []string{"reconcile", "--once"}},
		{name: "negative RAC_GRACE", env: map[string]string{"RAC_GRACE": "-1s"}, args: []string{"reconcile", "--once"}},
		{name: "bad RAC_GRACE for serve", env: map[string]string{"RAC_GRACE": "1 minute"}, args: []string{"serve", "--listen", ":0"}},
		{name: "serve without --listen", args: []string{"serve"}},
		{name: "report with an unknown format", args: []string{"report", "--format", "xml"}},
		{name: "report with a malformed run id", args: []string{"report", "--run", "run-42"}},
		{name: "report with a malformed since", args: []string{"report", "--since", "yesterday"}},
		{name: "demo with no runs", args: []string{"demo", "--runs", "0"}},
		{name: "demo with a data dir and a database url", args: []string{"demo", "--data-dir", "/tmp/x", "--database-url", "postgres://x"}},
		{name: "migrate with an unknown verb", args: []string{"migrate", "sideways"}},
		{name: "migrate with an unknown verb after the flags", args: []string{"migrate", "--database-url", "postgres://x", "sideways"}},
		{name: "migrate with an unknown flag before the verb", args: []string{"migrate", "--bogus", "down"}},
		{name: "migrate with two verbs", args: []string{"migrate", "status", "down"}},
		{name: "no database", args: []string{"reconcile", "--once"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := rac(context.Background(), c.env, c.args...)
			require.Equal(t, exitUsage, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
			require.NotEmpty(t, res.stderr)
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {"reconcile", "-h"}, {"report", "--help"}, {"demo", "-h"}, {"migrate", "-h"}, {"migrate", "down", "--help"}} {
		res := rac(context.Background(), nil, args...)
		require.Equal(t, exitOK, res.code, "%v: %s", args, res.stderr)
		require.Contains(t, res.stdout, "usage:")
		require.Empty(t, res.stderr)
	}
}
