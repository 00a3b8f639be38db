package main

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/export"
)

const verifyExportSynopsis = "rac verify-export DIR [--pub-key FILE] [--head HASH] [--format text|json] [--quiet]"

// verifyExportJSON is the JSON output of rac verify-export.
type verifyExportJSON struct {
	Dir string `json:"dir"`
	// Verdict is intact or tampered.
	Verdict          string          `json:"verdict"`
	Files            int             `json:"files"`
	Rows             int64           `json:"rows"`
	SignatureChecked bool            `json:"signature_checked"`
	Seals            []sealCheckJSON `json:"seals"`
	// HeadCheck says what --head found ("" without --head).
	HeadCheck string        `json:"head_check,omitempty"`
	Problems  []problemJSON `json:"problems"`
	// ToolVersion is the version of rac that wrote the export.
	ToolVersion string `json:"tool_version,omitempty"`
}

type sealCheckJSON struct {
	ID         int64 `json:"id"`
	Checked    bool  `json:"checked"`
	OK         bool  `json:"ok"`
	Rows       int64 `json:"rows"`
	WindowRows int64 `json:"window_rows"`
}

type problemJSON struct {
	File   string `json:"file,omitempty"`
	Seal   int64  `json:"seal,omitempty"`
	Detail string `json:"detail"`
}

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
	format := formatFlag(fs)
	dir, err := parsePositional(fs, args)
	if err != nil {
		return parseError(err)
	}
	if err := checkFormat(*format); err != nil {
		return exitUsage, err
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
	res, err := export.VerifyWithOptions(dir, export.VerifyOptions{PublicKey: pub, Progress: env.progress(), ProgressEvery: progressEvery})
	if err != nil {
		return exitError, err
	}
	if *format == formatJSON {
		out := verifyExportJSON{Dir: dir, Verdict: "intact", Files: res.Files, Rows: res.Rows,
			SignatureChecked: res.SignatureChecked, Seals: []sealCheckJSON{}, Problems: []problemJSON{}}
		if res.Manifest != nil {
			out.ToolVersion = res.Manifest.ToolVersion
		}
		for _, s := range res.Seals {
			out.Seals = append(out.Seals, sealCheckJSON{ID: s.ID, Checked: s.Checked, OK: s.OK, Rows: s.Rows, WindowRows: s.WindowRows})
		}
		if head != nil {
			out.HeadCheck = res.CheckPublishedHead(*head)
		}
		for _, p := range res.Problems {
			out.Problems = append(out.Problems, problemJSON{File: p.File, Seal: p.Seal, Detail: p.Detail})
		}
		code := exitOK
		if !res.Intact() {
			out.Verdict, code = "tampered", exitTampered
		}
		if err := writeJSON(env.stdout, out); err != nil {
			return exitError, err
		}
		return code, nil
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
