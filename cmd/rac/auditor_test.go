package main

import (
	"context"
	"encoding/json"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/export"
	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// auditorLedger fills db with rows in every ledger table, in two tenants
// (default and other), reconciled and sealed by the superuser, and returns
// its superuser pool.
func auditorLedger(t *testing.T, db pgtest.Database) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := newPool(t, db.URL)
	env := dbEnv(db.URL)
	at := ledgertest.Now(t, pool).Add(-time.Hour)
	for range 3 {
		run := uuid.New()
		ledgertest.DeclareRun(t, pool, "default", run, at, time.Second)
		ledgertest.AckRun(t, pool, run, at.Add(time.Millisecond), ledger.FinalizeRun, ledger.CreateIncident)
	}
	_, err := pool.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('other') ON CONFLICT DO NOTHING`)
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SET LOCAL rac.tenant = 'other'`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT rac.expect(gen_random_uuid(), 'incidents', 'create_incident', interval '1 millisecond',
		declared_by => 'other-svc', metadata => '{"b": [1, 2], "a": "x"}')`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	settle(t, pool)
	res := rac(ctx, env, "reconcile", "--once")
	require.Equal(t, exitViolated, res.code, res.stdout+res.stderr)
	settle(t, pool)
	res = rac(ctx, env, "seal")
	require.Equal(t, exitOK, res.code, res.stderr)
	return pool
}

// auditorRole creates a login in rac_auditor, mapped in rac.tenant_roles to
// the named tenant ("" maps it to every tenant: tenant_id NULL), and
// returns its URL.
func auditorRole(t *testing.T, db pgtest.Database, pool *pgxpool.Pool, tenant string) string {
	t.Helper()
	url, name := pgtest.LoginRole(t, db, "rac_auditor")
	q := `INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ($1, NULL)`
	args := []any{name}
	if tenant != "" {
		q, args = `INSERT INTO rac.tenant_roles (role_name, tenant_id) SELECT $1, id FROM rac.tenants WHERE name = $2`, append(args, tenant)
	}
	_, err := pool.Exec(context.Background(), q, args...)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DELETE FROM rac.tenant_roles WHERE role_name = $1`, name)
	})
	return url
}

// verifyOutput runs rac verify --format json and returns its exit code and
// output without the duration.
func verifyOutput(t *testing.T, env map[string]string) (int, verifyJSON) {
	t.Helper()
	res := rac(context.Background(), env, "verify", "--format", "json")
	var out verifyJSON
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &out), res.stdout+res.stderr)
	out.DurationSeconds = 0
	return res.code, out
}

// TestAuditorEvidenceCommands runs verify, prove and export as a login in
// rac_auditor that sees every tenant: it has no privilege on any ledger
// table and reads the audit views of migration 00014, and its results are
// byte for byte the superuser's, tampering included.
func TestAuditorEvidenceCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := auditorLedger(t, db)
	super := dbEnv(db.URL)
	auditor := dbEnv(auditorRole(t, db, pool, ""))

	var tablePrivileges bool
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT bool_or(has_table_privilege('rac_auditor', c.oid, 'SELECT'))
		FROM pg_class c WHERE c.relnamespace = 'rac'::regnamespace AND c.relkind = 'r'
		  AND c.relname NOT IN ('authors', 'domain_roles')`).Scan(&tablePrivileges))
	require.False(t, tablePrivileges, "rac_auditor reads views only")

	// verify: the same report from the views as from the tables.
	code, want := verifyOutput(t, super)
	require.Equal(t, exitOK, code)
	require.Equal(t, "intact", want.Verdict)
	require.Positive(t, want.Rows)
	code, got := verifyOutput(t, auditor)
	require.Equal(t, exitOK, code)
	require.Equal(t, want, got)

	// prove: the same proof, for a row of each table.
	for _, table := range []string{"expectations", "acks", "findings", "verdicts", "reconciliations"} {
		tbl, _, err := canon.Lookup(table)
		require.NoError(t, err)
		var id int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT max(id) FROM "+tbl.Name).Scan(&id), table)
		proofs := map[string]string{}
		for who, env := range map[string]map[string]string{"superuser": super, "auditor": auditor} {
			res := rac(ctx, env, "prove", "--table", table, "--id", strconv.FormatInt(id, 10))
			require.Equal(t, exitOK, res.code, "%s %s: %s", who, table, res.stderr)
			proofs[who] = res.stdout
		}
		require.Equal(t, proofs["superuser"], proofs["auditor"], table)
	}

	// export by seal range: the same files, which verify against the seal.
	dirs := map[string]string{}
	for who, env := range map[string]map[string]string{"superuser": super, "auditor": auditor} {
		dirs[who] = filepath.Join(t.TempDir(), who)
		res := rac(ctx, env, "export", "--seals", "1", "--format", "jsonl", "--out", dirs[who])
		require.Equal(t, exitOK, res.code, "%s: %s", who, res.stderr)
		require.Contains(t, res.stdout, "1 listed (1..1), 1 complete", who)
	}
	wantM, gotM := readManifest(t, dirs["superuser"]), readManifest(t, dirs["auditor"])
	require.Equal(t, wantM.Files, gotM.Files, "the same bytes in every file")
	require.Equal(t, wantM.Seals, gotM.Seals)
	require.Equal(t, wantM.SchemaVersion, gotM.SchemaVersion)
	require.Equal(t, []string{"default", "other"}, gotM.VisibleTenants)
	res := rac(ctx, nil, "verify-export", dirs["auditor"])
	require.Equal(t, exitOK, res.code, res.stdout+res.stderr)

	// export of a time range, as CSV: the same files again.
	for who, env := range map[string]map[string]string{"superuser": super, "auditor": auditor} {
		dirs[who] = filepath.Join(t.TempDir(), who)
		res := rac(ctx, env, "export", "--from", "2h", "--to", "now", "--out", dirs[who], "--wait", "10s")
		require.Equal(t, exitOK, res.code, "%s: %s", who, res.stderr)
	}
	require.Equal(t, readManifest(t, dirs["superuser"]).Files, readManifest(t, dirs["auditor"]).Files)

	// Tampering is found from the views as from the tables: a superuser
	// edits a sealed ack with the append-only trigger off.
	var ackID int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT max(id) FROM rac.acks").Scan(&ackID))
	_, err := pool.Exec(ctx, `BEGIN; SET LOCAL session_replication_role = replica;
		UPDATE rac.acks SET error = 'forged' WHERE id = `+strconv.FormatInt(ackID, 10)+`; COMMIT`)
	require.NoError(t, err)
	code, want = verifyOutput(t, super)
	require.Equal(t, exitTampered, code)
	code, got = verifyOutput(t, auditor)
	require.Equal(t, exitTampered, code)
	require.Equal(t, want, got)
	require.Equal(t, "edited", got.Tamper.Kind)
	require.Equal(t, ackID, got.Tamper.RowID)
}

// readManifest reads dir's manifest.json.
func readManifest(t *testing.T, dir string) export.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	require.NoError(t, err)
	var m export.Manifest
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// TestPinnedAuditor runs the evidence commands as rac_auditor logins that
// see some tenants: one pinned to default, one not mapped at all (which
// sees default only). Each exports its tenants' rows by time range, and is
// refused verify, prove and an export by seal range up front, with exit 1,
// a plain reason, and nothing written.
func TestPinnedAuditor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := auditorLedger(t, db)
	unmapped, _ := pgtest.LoginRole(t, db, "rac_auditor")
	logins := map[string]string{"pinned": auditorRole(t, db, pool, "default"), "unmapped": unmapped}
	var ackID int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT min(id) FROM rac.acks").Scan(&ackID))

	for who, url := range logins {
		t.Run(who, func(t *testing.T) {
			env := dbEnv(url)
			dir := t.TempDir()
			proof := filepath.Join(dir, "proof.json")
			out := filepath.Join(dir, "export")
			for _, args := range [][]string{
				{"verify"},
				{"prove", "--table", "acks", "--id", strconv.FormatInt(ackID, 10), "--out", proof},
				{"export", "--seals", "1", "--out", out},
				{"export", "--seals", "1", "--tenant", "default", "--out", out},
			} {
				res := rac(ctx, env, args...)
				require.Equal(t, exitError, res.code, "%v: %s%s", args, res.stdout, res.stderr)
				require.Contains(t, res.stderr, "does not see every ledger row", args)
				require.Contains(t, res.stderr, "hint: this login sees only some tenants", args)
				require.Contains(t, res.stderr, "every seal covers the rows of every tenant", args)
				require.Empty(t, res.stdout, args)
				require.NotContains(t, res.stderr, password(t, url), args)
				require.NoFileExists(t, proof)
				require.NoDirExists(t, out)
			}

			res := rac(ctx, env, "export", "--from", "2h", "--to", "now", "--out", out, "--wait", "10s")
			require.Equal(t, exitOK, res.code, res.stderr)
			m := readManifest(t, out)
			require.Equal(t, []string{"default"}, m.VisibleTenants)
			for _, f := range m.Files {
				if f.Name == "expectations.csv" {
					require.Equal(t, int64(3*5), f.Rows, "default's expectations only")
				}
			}
			b, err := os.ReadFile(filepath.Join(out, "expectations.csv"))
			require.NoError(t, err)
			require.NotContains(t, string(b), "other")
			res = rac(ctx, nil, "verify-export", out)
			require.Equal(t, exitOK, res.code, res.stdout+res.stderr)

			res = rac(ctx, env, "export", "--from", "2h", "--to", "now", "--tenant", "other", "--out", filepath.Join(dir, "x"))
			require.Equal(t, exitUsage, res.code, res.stderr)
			require.Contains(t, res.stderr, `tenant "other" is unknown or outside this session's tenant scope`)
			require.False(t, strings.Contains(res.stderr, "permission denied"), res.stderr)
		})
	}
}

// password returns the password of a login URL.
func password(t *testing.T, loginURL string) string {
	t.Helper()
	u, err := neturl.Parse(loginURL)
	require.NoError(t, err)
	p, ok := u.User.Password()
	require.True(t, ok)
	require.NotEmpty(t, p)
	return p
}

// TestEvidenceCommandsWithoutRole runs verify, prove and export as a login
// in no rac role, on a ledger of one tenant (so it sees every tenant): it
// may read neither the tables nor the audit views, and is told which roles
// can.
func TestEvidenceCommandsWithoutRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	expectOne(t, pool)
	settle(t, pool)
	require.Equal(t, exitOK, rac(ctx, dbEnv(db.URL), "seal").code)
	url, _ := pgtest.LoginRole(t, db)
	for _, args := range [][]string{
		{"verify"},
		{"prove", "--table", "expectations", "--id", "1"},
		{"export", "--seals", "1", "--out", filepath.Join(t.TempDir(), "x")},
	} {
		res := rac(ctx, dbEnv(url), args...)
		require.Equal(t, exitError, res.code, "%v: %s%s", args, res.stdout, res.stderr)
		require.Contains(t, res.stderr, "permission denied", args)
		require.Contains(t, res.stderr, "hint: this login may read neither the ledger tables nor the audit views rac "+args[0]+" reads", args)
		require.Contains(t, res.stderr, "member of rac_auditor", args)
		require.NotContains(t, res.stderr, password(t, url), args)
	}
}
