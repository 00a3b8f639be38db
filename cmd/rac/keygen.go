package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/racledger/racledger/internal/export"
)

const keygenSynopsis = "rac keygen --out PREFIX"

// runKeygen implements `rac keygen`: a new ed25519 key pair for signing
// exports, PREFIX.key (PKCS #8 PEM, mode 0600) and PREFIX.pub (PKIX PEM).
func runKeygen(_ context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "keygen", keygenSynopsis)
	out := fs.String("out", "", "path prefix of the key files: PREFIX.key (private) and PREFIX.pub (public); required")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if *out == "" {
		return exitUsage, fmt.Errorf("%w: --out is required: %s", errUsage, keygenSynopsis)
	}
	pub, err := export.GenerateKey(*out, nil)
	if err != nil {
		return exitError, err
	}
	fp := sha256.Sum256(pub)
	fmt.Fprintf(env.stdout, "wrote %s.key (private: keep it secret) and %s.pub (public key sha256 %s)\n",
		*out, *out, hex.EncodeToString(fp[:]))
	return exitOK, nil
}
