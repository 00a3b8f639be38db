package main

import (
	"context"
	"crypto/ed25519"
	"fmt"

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
	var head *canon.Hash
	hashVar(fs, &head, "head", "a seal `HASH` published elsewhere (hex) that must be a listed seal or the export's seal_head")
	dir, err := parsePositional(fs, args)
	if err != nil {
		return parseError(err)
	}
	if dir == "" {
		return exitUsage, fmt.Errorf("%w: give the export directory: %s", errUsage, verifyExportSynopsis)
	}
	var pub ed25519.PublicKey
	if *pubKey != "" {
		if pub, err = export.LoadPublicKey(*pubKey); err != nil {
			return exitUsage, fmt.Errorf("%w: --pub-key: %v", errUsage, err)
		}
	}
	res, err := export.Verify(dir, pub)
	if err != nil {
		return exitError, err
	}
	for _, s := range res.Seals {
		fmt.Fprintf(env.stdout, "%s\n", s)
	}
	if head != nil {
		if line := res.CheckPublishedHead(*head); line != "" {
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
