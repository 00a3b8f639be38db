package migrations_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// quotedRoleNames is the migration after which a login role whose name
// needs quoting can write.
const quotedRoleNames = 18

func TestQuotedRoleNamesDownRestores(t *testing.T) {
	t.Parallel()
	requireDownRestores(t, quotedRoleNames)
}

// Service roles are often named like their services (`svc-payments`),
// sometimes with capitals or worse. Such a role in rac_writer writes its
// expectations and acks through the library, the SQL functions and a
// direct INSERT naming its own author, and is still refused another
// role's author.
func TestRolesWhoseNamesNeedQuotingWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	on := true
	l := ledger.New(ledger.Options{Enabled: &on})
	_, plainName := loginRole(t, b, "rac_writer")
	var other int32
	require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO rac.authors (role_name, role_oid)
		SELECT rolname, oid FROM pg_roles WHERE rolname = $1 RETURNING id`, plainName).Scan(&other))

	suffix := make([]byte, 4)
	_, err := rand.Read(suffix)
	require.NoError(t, err)
	for _, name := range []string{
		"svc-payments-" + hex.EncodeToString(suffix),
		"Billing" + hex.EncodeToString(suffix),
		`svc "quoted" name ` + hex.EncodeToString(suffix),
	} {
		t.Run(name, func(t *testing.T) {
			var quoted string
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT quote_ident($1)`, name).Scan(&quoted))
			require.NotEqual(t, name, quoted, "the name needs quoting")
			pool := openPool(t, pgtest.NamedLoginRole(t, b.db, name, "rac_writer"))

			run := uuid.New()
			inTx(t, b, pool, func(tx pgx.Tx) {
				require.NoError(t, l.Expect(b.ctx, tx, run, ledger.StandardRun(time.Hour)...))
				require.NoError(t, l.Ack(b.ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents,
					Action: ledger.CreateIncident, ResultID: "inc-1"}))
				_, err := tx.Exec(b.ctx, `SELECT rac.ack($1, 'policies', 'evaluate_policy', 'p-1')`, run)
				require.NoError(t, err)
				_, err = tx.Exec(b.ctx, `INSERT INTO rac.acks (run_id, action_id, result_id, author_id)
					SELECT $1, id, 'span-1', rac.author_id() FROM rac.contract_actions
					WHERE domain = 'logs' AND action = 'start_trace'`, run)
				require.NoError(t, err, "a direct insert naming its own author")
			})
			require.Equal(t, 5, count(t, b.pool, `SELECT count(*) FROM rac.expectations e
				JOIN rac.authors au ON au.id = e.author_id WHERE e.run_id = $1 AND au.role_name = $2`, run, name))
			require.Equal(t, 3, count(t, b.pool, `SELECT count(*) FROM rac.acks a
				JOIN rac.authors au ON au.id = a.author_id WHERE a.run_id = $1 AND au.role_name = $2`, run, name))

			_, err := pool.Exec(b.ctx, `INSERT INTO rac.acks (run_id, action_id, result_id, author_id)
				SELECT $1, id, 'span-2', $2 FROM rac.contract_actions
				WHERE domain = 'logs' AND action = 'start_trace'`, run, other)
			require.Equal(t, codeNoPrivilege, pgError(t, err).Code, "another role's author is refused")
		})
	}
}
