package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/export"
	"github.com/racledger/racledger/internal/pgtest"
)

// requireSchema decodes out as one JSON object and requires each field of
// want with its JSON type (string, number, bool, object, array, null, or
// several joined by |).
func requireSchema(t *testing.T, out string, want map[string]string) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc), "not one JSON object: %s", out)
	for field, types := range want {
		v, ok := doc[field]
		require.True(t, ok, "field %q missing from %s", field, out)
		got := "null"
		switch v.(type) {
		case string:
			got = "string"
		case float64:
			got = "number"
		case bool:
			got = "bool"
		case map[string]any:
			got = "object"
		case []any:
			got = "array"
		}
		require.Contains(t, "|"+types+"|", "|"+got+"|", "field %q is %s, want %s", field, got, types)
	}
	return doc
}

// Every --format json prints one object with the fields docs/operations.md
// documents, whatever the exit code.
func TestJSONOutputSchemas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	env := dbEnv(db.URL)
	pool := newPool(t, db.URL)
	_, err := pool.Exec(ctx, `SELECT rac.expect(gen_random_uuid(), 'incidents', 'create_incident', interval '1 millisecond')`)
	require.NoError(t, err)
	settle(t, pool)

	res := rac(ctx, nil, "version", "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr)
	requireSchema(t, res.stdout, map[string]string{"version": "string", "go_version": "string", "module": "string"})

	res = rac(ctx, env, "migrate", "status", "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr)
	doc := requireSchema(t, res.stdout, map[string]string{"verb": "string", "migrations": "array"})
	m0 := doc["migrations"].([]any)[0]
	b, _ := json.Marshal(m0)
	requireSchema(t, string(b), map[string]string{"version": "number", "name": "string", "applied": "bool", "applied_at": "string"})

	res = rac(ctx, env, "migrate", "up", "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr)
	requireSchema(t, res.stdout, map[string]string{"verb": "string", "applied": "number"})

	res = rac(ctx, env, "reconcile", "--once", "--format", "json")
	require.Contains(t, []int{exitOK, exitViolated}, res.code, res.stderr)
	requireSchema(t, res.stdout, map[string]string{
		"pass_id": "string", "candidate_runs": "number", "batches": "number", "findings_recorded": "number",
		"resolutions_recorded": "number", "verdicts_recorded": "number", "findings_by_kind": "object",
		"resolutions_by_kind": "object", "open_findings": "object", "open_total": "number",
		"duration_seconds": "number", "horizon_lag_seconds": "number", "horizon_from": "number", "horizon_to": "number",
	})

	res = rac(ctx, env, "report", "--format", "json", "--limit", "1", "--kind", "missing,stale")
	require.Contains(t, []int{exitOK, exitViolated, exitCannotTell}, res.code, res.stderr)
	requireSchema(t, res.stdout, map[string]string{
		"as_of": "string", "filter": "object", "scope": "array", "coverage": "object", "verdicts": "object",
		"open_by_kind": "object", "open_total": "number", "open_findings": "array", "closed_by_resolution": "object",
	})

	settle(t, pool)
	res = rac(ctx, env, "seal", "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr)
	requireSchema(t, res.stdout, map[string]string{"sealed": "bool", "rows": "number", "head_id": "number", "head_hash": "string"})

	res = rac(ctx, env, "verify", "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr)
	doc = requireSchema(t, res.stdout, map[string]string{
		"verdict": "string", "seals": "number", "rows": "number", "head_id": "number", "head_hash": "string",
		"unsealed_rows": "number", "tamper": "null", "duration_seconds": "number",
	})
	require.Equal(t, "intact", doc["verdict"])

	dir := t.TempDir()
	proof := filepath.Join(dir, "proof.json")
	res = rac(ctx, env, "prove", "--table", "expectations", "--id", "1", "--out", proof)
	require.Equal(t, exitOK, res.code, res.stderr)
	res = rac(ctx, nil, "verify-proof", proof, "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr)
	requireSchema(t, res.stdout, map[string]string{
		"valid": "bool", "table": "string", "row_id": "number", "leaf_index": "number", "seal_id": "number",
		"merkle_root": "string", "seal_hash": "string",
	})

	out := filepath.Join(dir, "export")
	res = rac(ctx, env, "export", "--from", "2000-01-01", "--to", "now", "--out", out)
	require.Equal(t, exitOK, res.code, res.stderr)
	res = rac(ctx, nil, "verify-export", "--format", "json", out)
	require.Equal(t, exitOK, res.code, res.stderr)
	doc = requireSchema(t, res.stdout, map[string]string{
		"dir": "string", "verdict": "string", "files": "number", "rows": "number", "signature_checked": "bool",
		"seals": "array", "problems": "array", "tool_version": "string",
	})
	require.Equal(t, "intact", doc["verdict"])
	require.Equal(t, toolVersion(), doc["tool_version"])
	// Tampered: the same schema, verdict tampered, exit 4.
	f := filepath.Join(out, "expectations.csv")
	raw, err := os.ReadFile(f)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(f, append(raw, []byte("x")...), 0o644))
	res = rac(ctx, nil, "verify-export", "--format", "json", out)
	require.Equal(t, exitTampered, res.code, res.stderr)
	doc = requireSchema(t, res.stdout, map[string]string{"verdict": "string", "problems": "array"})
	require.Equal(t, "tampered", doc["verdict"])
}

// An interrupted export (data files, no manifest), an empty directory or
// one that is no export is exit 1 for verify-export, not 4; a failed export
// leaves nothing behind, and --force replaces only a previous export.
func TestVerifyExportIncomplete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, files := range map[string][]string{
		"interrupted export": {"acks.csv", ".rac-export-tmp-findings.csv"},
		"empty directory":    nil,
		"not an export":      {"notes.txt"},
	} {
		dir := t.TempDir()
		for _, f := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("id\n"), 0o644))
		}
		res := rac(ctx, nil, "verify-export", dir)
		require.Equal(t, exitError, res.code, "%s: %s", name, res.stderr)
		require.Contains(t, res.stderr, "has no manifest.json", name)
		require.NotContains(t, res.stdout+res.stderr, "tampered", name)
	}

	db := pgtest.NewDatabase(t)
	env := dbEnv(db.URL)
	out := filepath.Join(t.TempDir(), "never")
	res := rac(ctx, env, "export", "--from", "2000-01-01", "--to", "2999-01-01", "--out", out)
	require.Equal(t, exitError, res.code, res.stderr)
	require.Contains(t, res.stderr, "after the database clock")
	require.Contains(t, res.stderr, "--to")
	_, err := os.Stat(out)
	require.ErrorIs(t, err, os.ErrNotExist, "a failed export leaves no directory behind")

	out = filepath.Join(t.TempDir(), "export")
	require.Equal(t, exitOK, rac(ctx, env, "export", "--from", "1d", "--to", "now", "--out", out).code)
	require.NoError(t, os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644))
	res = rac(ctx, env, "export", "--from", "1d", "--to", "now", "--out", out, "--force")
	require.Equal(t, exitError, res.code, res.stderr)
	require.Contains(t, res.stderr, "notes.txt")
	require.NoError(t, os.Remove(filepath.Join(out, "notes.txt")))
	res = rac(ctx, env, "export", "--from", "1d", "--to", "now", "--out", out, "--force")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, exitOK, rac(ctx, nil, "verify-export", out).code)
	_, err = os.Stat(filepath.Join(out, export.ManifestName))
	require.NoError(t, err)
}

// An unmigrated database gets a hint to run rac migrate up, once.
func TestMissingSchemaHint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	_, err := pool.Exec(ctx, `DROP SCHEMA rac CASCADE`)
	require.NoError(t, err)
	for _, args := range [][]string{{"report"}, {"reconcile", "--once"}, {"seal"}} {
		res := rac(ctx, dbEnv(db.URL), args...)
		require.Equal(t, exitError, res.code, "%v: %s", args, res.stderr)
		require.Contains(t, res.stderr, "hint: the database lacks the ledger schema", args)
		require.Contains(t, res.stderr, "rac migrate up", args)
		require.Equal(t, 1, countLines(res.stderr, fmt.Sprintf("rac %s:", args[0])), "%v printed its error once: %s", args, res.stderr)
		require.NotContains(t, res.stderr, "level=ERROR", args)
	}
}
