package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/seal"
)

const (
	proveSynopsis       = "rac prove --table T --id N [--through SEAL] [--out FILE] [--database-url URL]"
	verifyProofSynopsis = "rac verify-proof FILE [--head HASH] [--format text|json]"
)

// verifyProofJSON is the JSON output of rac verify-proof.
type verifyProofJSON struct {
	// Valid reports whether the proof holds (exit 0; 4 when not).
	Valid bool `json:"valid"`
	// Error says why it does not hold ("" when valid).
	Error      string `json:"error,omitempty"`
	Table      string `json:"table"`
	RowID      int64  `json:"row_id"`
	LeafIndex  int64  `json:"leaf_index"`
	SealID     int64  `json:"seal_id"`
	MerkleRoot string `json:"merkle_root"`
	SealHash   string `json:"seal_hash"`
}

// runProve implements `rac prove`: print (or write to --out) the JSON
// inclusion proof of one row in its seal, with the chain of later seals up
// to --through (default: the latest).
func runProve(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "prove", proveSynopsis)
	dbURL := databaseFlag(fs, env)
	table := fs.String("table", "", "ledger table: expectations, acks, findings, resolutions, verdicts or reconciliations")
	id := fs.Int64("id", 0, "row id")
	through := fs.Int64("through", 0, "chain the proof up to this seal (default: the latest), so it verifies against that seal's published hash")
	out := fs.String("out", "", "write the proof to FILE instead of stdout")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if _, _, err := canon.Lookup(*table); err != nil {
		return exitUsage, fmt.Errorf("%w: --table: %v", errUsage, err)
	}
	if *id <= 0 {
		return exitUsage, fmt.Errorf("%w: --id N is required", errUsage)
	}
	if *through < 0 {
		return exitUsage, fmt.Errorf("%w: --through %d: want a seal id", errUsage, *through)
	}
	pool, err := connect(ctx, *dbURL)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	p, err := seal.ProveThrough(ctx, pool, *table, *id, *through)
	if err != nil {
		return exitError, err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return exitError, fmt.Errorf("encode proof: %w", err)
	}
	b = append(b, '\n')
	if *out == "" {
		_, err = env.stdout.Write(b)
		return exitOK, err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return exitError, fmt.Errorf("write proof: %w", err)
	}
	last := p.Seal.ID
	if len(p.Chain) > 0 {
		last = p.Chain[len(p.Chain)-1].ID
	}
	fmt.Fprintf(env.stderr, "proof of %s id %d in seal %d, chained through seal %d, written to %s\n",
		p.Table, p.RowID, p.Seal.ID, last, *out)
	return exitOK, nil
}

// runVerifyProof implements `rac verify-proof`: check a proof offline,
// without a database. Exit 0 valid, 4 the proof does not hold, 1 error.
func runVerifyProof(_ context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "verify-proof", verifyProofSynopsis)
	var head *canon.Hash
	hashVar(fs, &head, "head", "a published seal `HASH`: the proof's seal or a seal of its chain must have it")
	format := formatFlag(fs)
	file, err := parsePositional(fs, args)
	if err != nil {
		return parseError(err)
	}
	if err := checkFormat(*format); err != nil {
		return exitUsage, err
	}
	if file == "" {
		return exitUsage, fmt.Errorf("%w: the proof FILE is required", errUsage)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return exitError, fmt.Errorf("read proof: %w", err)
	}
	var p seal.Proof
	if err := json.Unmarshal(b, &p); err != nil {
		return exitError, fmt.Errorf("decode proof %s: %w", file, err)
	}
	verr := seal.VerifyProof(&p, head)
	if *format == formatJSON {
		out := verifyProofJSON{Valid: verr == nil, Table: p.Table, RowID: p.RowID, LeafIndex: int64(p.LeafIndex),
			SealID: p.Seal.ID, MerkleRoot: p.Seal.MerkleRoot, SealHash: p.Seal.SealHash}
		code := exitOK
		if verr != nil {
			out.Error, code = verr.Error(), exitTampered
		}
		if err := writeJSON(env.stdout, out); err != nil {
			return exitError, err
		}
		return code, nil
	}
	if err := verr; err != nil {
		fmt.Fprintf(env.stdout, "INVALID: %v\n", err)
		return exitTampered, nil
	}
	fmt.Fprintf(env.stdout, "valid: %s id %d is leaf %d of seal %d (root %s, seal hash %s)\n",
		p.Table, p.RowID, p.LeafIndex, p.Seal.ID, p.Seal.MerkleRoot, p.Seal.SealHash)
	return exitOK, nil
}
