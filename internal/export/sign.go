package export

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// Key files are PEM: the private key as PKCS #8 ("PRIVATE KEY"), the
// public key as PKIX ("PUBLIC KEY"), the encodings OpenSSL reads and
// writes for ed25519, so a signature can be checked without rac:
//
//	openssl pkeyutl -verify -pubin -inkey export.pub -rawin \
//	    -in manifest.json -sigfile manifest.json.sig
const (
	privatePEMType = "PRIVATE KEY"
	publicPEMType  = "PUBLIC KEY"
)

// ErrKey reports a key file that is not an ed25519 key of the expected kind.
var ErrKey = errors.New("export: not an ed25519 key")

// GenerateKey writes a new ed25519 key pair: prefix.key (private, mode
// 0600) and prefix.pub (public). It refuses to overwrite either file.
// random is the entropy source; nil means crypto/rand.
func GenerateKey(prefix string, random io.Reader) (ed25519.PublicKey, error) {
	if random == nil {
		random = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	privPath, pubPath := prefix+".key", prefix+".pub"
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s already exists: refusing to overwrite a key", p)
		}
	}
	if err := writeSynced(privPath, pem.EncodeToMemory(&pem.Block{Type: privatePEMType, Bytes: privDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeSynced(pubPath, pem.EncodeToMemory(&pem.Block{Type: publicPEMType, Bytes: pubDER}), 0o644); err != nil {
		_ = os.Remove(privPath)
		return nil, err
	}
	return pub, nil
}

// LoadPrivateKey reads a PKCS #8 PEM ed25519 private key.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, privatePEMType)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T", ErrKey, path, k)
	}
	return priv, nil
}

// LoadPublicKey reads a PKIX PEM ed25519 public key.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, publicPEMType)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T", ErrKey, path, k)
	}
	return pub, nil
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: %s is not PEM", ErrKey, path)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("%w: %s holds a PEM %q block, want %q", ErrKey, path, block.Type, typ)
	}
	return block.Bytes, nil
}
