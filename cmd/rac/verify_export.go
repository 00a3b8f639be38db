package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/export"
)

const verifyExportSynopsis = "rac verify-export DIR [--pub-key FILE] [--head HASH]"

// runVerifyExport implements `rac verify-export`: it recomputes the size,
// SHA-256 and row count of every file of an export, looks for missing and
// extra files, checks the seals the manifest lists (their hashes and chain
// and, for each seal whose whole window the export holds, its Merkle root
// rebuilt from the files) and, with --pub-key, the manifest's signature.
// With --head, a seal hash published elsewhere must be one of the listed
// seals (anchoring the chain of listed seals that ends there) or the
// export's seal_head. It prints one line per seal (checked or not
// checked), each problem and the verdict. Exit 0 intact, 4 tampered, 1
// error, 2 usage.
func runVerifyExport(_ context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "verify-export", verifyExportSynopsis)
	pubKey := fs.String("pub-key", "", "ed25519 public key `FILE` (PREFIX.pub from rac keygen) that must have signed manifest.json")
	head := fs.String("head", "", "a seal hash published elsewhere (hex) that must be a listed seal or the export's seal_head")
	// DIR may come before or after the flags.
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, nil
		}
		return exitUsage, fmt.Errorf("%w: %v", errUsage, err)
	}
	rest := fs.Args()
	if dir == "" && len(rest) > 0 {
		dir = rest[0]
		if err := parseFlags(fs, rest[1:]); err != nil {
			return parseError(err)
		}
		rest = fs.Args()
	}
	if dir == "" {
		return exitUsage, fmt.Errorf("%w: give the export directory: %s", errUsage, verifyExportSynopsis)
	}
	if len(rest) > 0 {
		return exitUsage, fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	var pub ed25519.PublicKey
	if *pubKey != "" {
		var err error
		if pub, err = export.LoadPublicKey(*pubKey); err != nil {
			return exitUsage, fmt.Errorf("%w: --pub-key: %v", errUsage, err)
		}
	}
	var published *canon.Hash
	if *head != "" {
		h, err := canon.ParseHash(*head)
		if err != nil {
			return exitUsage, fmt.Errorf("%w: --head: %v", errUsage, err)
		}
		published = &h
	}
	res, err := export.Verify(dir, pub)
	if err != nil {
		return exitError, err
	}
	for _, s := range res.Seals {
		fmt.Fprintf(env.stdout, "%s\n", s)
	}
	if published != nil {
		if line := res.CheckPublishedHead(*published); line != "" {
			fmt.Fprintln(env.stdout, line)
		}
	}
	if !res.Intact() {
		for _, p := range res.Problems {
			fmt.Fprintf(env.stdout, "tampered: %s\n", p)
		}
		fmt.Fprintf(env.stdout, "export %s does not match its manifest: %d problem(s)\n", dir, len(res.Problems))
		return exitTampered, nil
	}
	sig := "signature not checked (no --pub-key)"
	if res.SignatureChecked {
		sig = "signature verified"
	}
	checked := 0
	for _, s := range res.Seals {
		if s.Checked {
			checked++
		}
	}
	seals := fmt.Sprintf("%d of %d listed seals checked against their Merkle roots", checked, len(res.Seals))
	fmt.Fprintf(env.stdout, "export %s intact: %d files, %d rows, checksums and row counts match; %s; %s\n",
		dir, res.Files, res.Rows, seals, sig)
	return exitOK, nil
}
