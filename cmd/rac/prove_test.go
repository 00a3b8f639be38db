package main

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
)

// TestParsePositional covers how verify-proof (and verify-export) read
// their one argument: before, among or after the flags.
func TestParsePositional(t *testing.T) {
	t.Parallel()
	h := canon.EmptyRoot.String()
	cases := []struct {
		name    string
		args    []string
		arg     string
		head    bool
		errWant error
	}{
		{name: "argument only", args: []string{"p.json"}, arg: "p.json"},
		{name: "argument before the flags", args: []string{"p.json", "--head", h}, arg: "p.json", head: true},
		{name: "argument after the flags", args: []string{"--head", h, "p.json"}, arg: "p.json", head: true},
		{name: "argument between flags", args: []string{"-v", "p.json", "--head", h}, arg: "p.json", head: true},
		{name: "no argument", args: []string{"--head", h}, head: true},
		{name: "nothing", args: nil},
		{name: "an empty head is no head", args: []string{"p.json", "--head", ""}, arg: "p.json"},
		{name: "two arguments", args: []string{"p.json", "q.json"}, errWant: errUsage},
		{name: "two arguments after the flags", args: []string{"--head", h, "p.json", "q.json"}, errWant: errUsage},
		{name: "unknown flag after the argument", args: []string{"--head", h, "p.json", "--bogus"}, errWant: errUsage},
		{name: "malformed head", args: []string{"p.json", "--head", "xyz"}, errWant: errUsage},
		{name: "help", args: []string{"p.json", "-h"}, errWant: errHelp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Bool("v", false, "")
			var head *canon.Hash
			hashVar(fs, &head, "head", "")
			arg, err := parsePositional(fs, c.args)
			if c.errWant != nil {
				require.ErrorIs(t, err, c.errWant)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.arg, arg)
			if c.head {
				require.Equal(t, &canon.EmptyRoot, head)
			} else {
				require.Nil(t, head)
			}
		})
	}
}
