package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// TestSealVerifyProve runs the tamper-evidence commands end to end: seal,
// verify, prove and verify-proof on a clean ledger, then verify again after
// a superuser edits a sealed ack with the triggers off.
func TestSealVerifyProve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	env := dbEnv(db.URL)

	res := rac(ctx, env, "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stderr, "no seals")

	l := newLedger()
	for range 5 {
		run := uuid.New()
		require.NoError(t, l.Expect(ctx, pool, run, ledger.StandardRun(60_000_000_000)...))
		require.NoError(t, l.Ack(ctx, pool, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc"}))
	}
	settle(t, pool)

	res = rac(ctx, env, "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	m := regexp.MustCompile(`^seal 1 head ([0-9a-f]{64})\n$`).FindStringSubmatch(res.stdout)
	require.NotNil(t, m, res.stdout)
	head := m[1]
	res = rac(ctx, env, "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, "seal 1 head "+head+"\n", res.stdout, "nothing new: the same head")

	res = rac(ctx, env, "verify", "--head", head)
	require.Equal(t, exitOK, res.code, res.stderr+res.stdout)
	require.Contains(t, res.stdout, "intact: 1 seals, 30 rows; published head found at seal 1")

	var ackID int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT max(id) FROM rac.acks").Scan(&ackID))
	proof := filepath.Join(t.TempDir(), "proof.json")
	res = rac(ctx, env, "prove", "--table", "acks", "--id", strconv.FormatInt(ackID, 10), "--out", proof)
	require.Equal(t, exitOK, res.code, res.stderr)
	for _, args := range [][]string{{proof, "--head", head}, {"--head", head, proof}} {
		res = rac(ctx, map[string]string{}, append([]string{"verify-proof"}, args...)...)
		require.Equal(t, exitOK, res.code, res.stderr+res.stdout)
		require.Contains(t, res.stdout, "valid: acks id "+strconv.FormatInt(ackID, 10))
	}

	t.Run("an altered proof is invalid", func(t *testing.T) {
		b, err := os.ReadFile(proof)
		require.NoError(t, err)
		var p map[string]any
		require.NoError(t, json.Unmarshal(b, &p))
		p["leaf_index"] = p["leaf_index"].(float64) - 1
		b, err = json.Marshal(p)
		require.NoError(t, err)
		bad := filepath.Join(t.TempDir(), "bad.json")
		require.NoError(t, os.WriteFile(bad, b, 0o644))
		res := rac(ctx, nil, "verify-proof", bad)
		require.Equal(t, exitTampered, res.code, res.stderr+res.stdout)
		require.Contains(t, res.stdout, "INVALID")
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"verify", "--head", "xyz"},
			{"prove", "--table", "nope", "--id", "1"},
			{"prove", "--table", "acks"},
			{"verify-proof"},
			{"verify-proof", "a.json", "b.json"},
			{"verify-proof", "a.json", "--head", "xyz"},
			{"seal", "extra"},
		} {
			require.Equal(t, exitUsage, rac(ctx, env, args...).code, args)
		}
	})

	t.Run("a wrong head is reported as tampering", func(t *testing.T) {
		// Change the first nibble: a different hash whatever the head is.
		first := "0"
		if head[0] == '0' {
			first = "1"
		}
		wrong := first + head[1:]
		require.NotEqual(t, head, wrong)
		res := rac(ctx, env, "verify", "--head", wrong)
		require.Equal(t, exitTampered, res.code, res.stderr+res.stdout)
		require.Contains(t, res.stdout, "head-missing")
	})

	_, err := pool.Exec(ctx, `BEGIN; SET LOCAL session_replication_role = replica;
		UPDATE rac.acks SET error = 'forged' WHERE id = `+strconv.FormatInt(ackID, 10)+`; COMMIT`)
	require.NoError(t, err)
	res = rac(ctx, env, "verify")
	require.Equal(t, exitTampered, res.code, res.stderr+res.stdout)
	finding, _, found := strings.Cut(res.stdout, " (")
	require.True(t, found, res.stdout)
	require.Equal(t, "TAMPERED: seal 1: edited in acks: row id "+strconv.FormatInt(ackID, 10), finding)
}
