package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// The fuzz targets hold the library to one rule: whatever it accepts,
// PostgreSQL stores. Each input runs in a transaction of its own against a
// real database and either is refused with an error wrapping ErrInvalid,
// leaving the transaction usable, or is stored; a PostgreSQL error is a
// failure. `go test` runs their seed corpus (testdata/fuzz and the f.Add
// seeds below) as ordinary tests; `go test -fuzz FuzzAck ./ledger/`
// explores further.

// inTx runs call in a new transaction on pool and checks the rule: a
// refusal wraps ErrInvalid, is not a database error and leaves the
// transaction usable; otherwise stored must report the rows written. The
// transaction is rolled back, so the database stays small.
func inTx(t *testing.T, pool *pgxpool.Pool, call func(context.Context, pgx.Tx) error,
	stored func(context.Context, pgx.Tx) bool) error {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	err = call(ctx, tx)
	if err != nil {
		var pgErr *pgconn.PgError
		require.False(t, errors.As(err, &pgErr), "a database error, not a refusal: %v", err)
		require.ErrorIs(t, err, ledger.ErrInvalid)
	}
	var one int
	require.NoError(t, tx.QueryRow(ctx, `SELECT 1`).Scan(&one), "the transaction is still usable after %v", err)
	if err == nil {
		require.True(t, stored(ctx, tx), "accepted, so stored")
	}
	return err
}

// postgresLength returns PostgreSQL's octet_length of v::jsonb::text (of
// v::text when asText), or refused when PostgreSQL refuses v, in a
// savepoint of tx so that tx stays usable.
func postgresLength(t *testing.T, tx pgx.Tx, v string, asText bool) (n int, refused bool) {
	t.Helper()
	ctx := context.Background()
	sp, err := tx.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = sp.Rollback(ctx) }()
	sql := `SELECT octet_length($1::text::jsonb::text)`
	if asText {
		sql = `SELECT octet_length($1::text)`
	}
	if err := sp.QueryRow(ctx, sql, v).Scan(&n); err != nil {
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "not a server error: %v", err)
		return 0, true
	}
	return n, false
}

func FuzzAck(f *testing.F) {
	for _, s := range []struct {
		resultID, key, errText string
		metadata               string
	}{
		{"inc-1", "k1", "", `{"order": 7}`},
		{"", "", "disk full", ""},
		{"", "", "", `"\ud800"`},
		{"", "", "", `{"k":"\udfff"}`},
		{"", "", "", `1e1000000`},
		{"", "", "", `[1e-1000000]`},
		{"", "", "", `{"a":"x\u0000y"}`},
		{"", "", "", `"\ud83d\ude00"`},
		{"", "", "", `{"a":1,"a":[1.50e1,-0,0.00001e3,12.5e-20]}`},
		{"", "", "", `1e131071`},
		{"", "", "", `0e-16383`},
		{"", "", "", "\"\xff\""},
		{"a\x00b", "", "", ""},
		{"", "\xff\xfe", "", ""},
		{"", "", "bad\x00news", ""},
		{"", "", "\xc3", ""},
		{strings.Repeat("r", ledger.MaxResultIDBytes), strings.Repeat("k", ledger.MaxIdempotencyKeyBytes),
			strings.Repeat("e", ledger.MaxErrorBytes), ""},
		{"", "", "", `"` + strings.Repeat("m", ledger.MaxMetadataBytes-2) + `"`},
	} {
		f.Add(s.resultID, s.key, s.errText, []byte(s.metadata))
	}
	pool := pgtest.NewPool(f)
	l := ledger.New(ledger.Options{Enabled: ptr(true)})

	f.Fuzz(func(t *testing.T, resultID, key, errText string, metadata []byte) {
		a := ledger.Ack{RunID: uuid.New(), Domain: ledger.Incidents, Action: ledger.CreateIncident,
			ResultID: resultID, IdempotencyKey: key, Error: errText, Metadata: metadata}
		inTx(t, pool, func(ctx context.Context, tx pgx.Tx) error {
			err := l.Ack(ctx, tx, a)
			// A refusal in Go is a refusal by PostgreSQL too: of the value
			// itself, or of its length by the table constraints.
			var ie *ledger.InputError
			if errors.As(err, &ie) {
				switch {
				case ie.Field == "metadata" && (strings.Contains(ie.Reason, "nested deeper") || strings.Contains(ie.Reason, "bytes of input")):
					// the library's own bounds on parsing
				case ie.Field == "metadata":
					n, refused := postgresLength(t, tx, string(metadata), false)
					require.True(t, refused || n > ledger.MaxMetadataBytes, "refused in Go only (%d bytes as jsonb text): %v", n, err)
				case errors.Is(err, ledger.ErrBadText):
					v := map[string]string{"result_id": resultID, "idempotency_key": key, "error": errText}[ie.Field]
					_, refused := postgresLength(t, tx, v, true)
					require.True(t, refused, "refused in Go only: %v", err)
				}
			}
			return err
		}, func(ctx context.Context, tx pgx.Tx) bool {
			var same bool
			require.NoError(t, tx.QueryRow(ctx, `
				SELECT count(*) = 1 AND bool_and(coalesce(result_id, '') = $2 AND coalesce(idempotency_key, '') = $3
				       AND coalesce(error, '') = $4 AND metadata IS NOT DISTINCT FROM nullif($5, '')::jsonb)
				FROM rac.acks WHERE run_id = $1`, a.RunID, resultID, key, errText, string(metadata)).Scan(&same))
			return same
		})
	})
}

func FuzzExpect(f *testing.F) {
	for _, s := range []struct {
		domain, action string
		deadline       time.Duration
	}{
		{"incidents", "create_incident", 5 * time.Second},
		{"incidents", "create_incident", time.Millisecond},
		{"incidents", "create_incident", 1500 * time.Microsecond},
		{"incidents", "create_incident", 999 * time.Microsecond},
		{"incidents", "create_incident", ledger.MaxDeadline},
		{"incidents", "create_incident", ledger.MaxDeadline + time.Millisecond},
		{"incidents", "create_incident", ledger.MaxDeadline + time.Microsecond},
		{"incidents", "create_incident", 0},
		{"incidents", "create_incident", -time.Second},
		{"nasa", "launch", time.Second},
		{"Incidents", "create_incident", time.Second},
		{"incidents\x00", "create_incident", time.Second},
		{"logs", "\xff", time.Second},
	} {
		f.Add(s.domain, s.action, int64(s.deadline))
	}
	pool := pgtest.NewPool(f)
	l := ledger.New(ledger.Options{Enabled: ptr(true), DeclaredBy: "fuzz"})

	f.Fuzz(func(t *testing.T, domain, action string, deadline int64) {
		run := uuid.New()
		e := ledger.Expectation{Domain: ledger.Domain(domain), Action: ledger.Action(action), Deadline: time.Duration(deadline)}
		inTx(t, pool, func(ctx context.Context, tx pgx.Tx) error {
			return l.Expect(ctx, tx, run, e)
		}, func(ctx context.Context, tx pgx.Tx) bool {
			var ok bool
			require.NoError(t, tx.QueryRow(ctx, `
				SELECT count(*) = 1 AND bool_and(e.deadline_ms = $2 AND e.declared_by = 'fuzz')
				FROM rac.expectations e WHERE e.run_id = $1`, run, e.Deadline.Milliseconds()).Scan(&ok))
			return ok
		})
	})
}

func FuzzOptions(f *testing.F) {
	for _, s := range []struct{ tenant, declaredBy string }{
		{"", ""},
		{"default", "checkout"},
		{"default", "é"},
		{"default", "a\x00b"},
		{"default", "\xff"},
		{"default", "\xe2\x82"},
		{"default", strings.Repeat("d", ledger.MaxDeclaredByBytes)},
		{"default", strings.Repeat("d", ledger.MaxDeclaredByBytes+1)},
		{"nosuch", ""},
		{"Bad Tenant", ""},
		{"default\x00", ""},
	} {
		f.Add(s.tenant, s.declaredBy)
	}
	pool := pgtest.NewPool(f)

	f.Fuzz(func(t *testing.T, tenant, declaredBy string) {
		l := ledger.New(ledger.Options{Enabled: ptr(true), Tenant: tenant, DeclaredBy: declaredBy})
		run := uuid.New()
		inTx(t, pool, func(ctx context.Context, tx pgx.Tx) error {
			if err := l.Expect(ctx, tx, run, ledger.StandardRun(time.Second)...); err != nil {
				return err
			}
			return l.Ack(ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident})
		}, func(ctx context.Context, tx pgx.Tx) bool {
			var ok bool
			require.NoError(t, tx.QueryRow(ctx, `
				SELECT count(*) = 5 AND bool_and(e.declared_by IS NOT DISTINCT FROM nullif($2, '') AND t.name = $3)
				       AND (SELECT count(*) FROM rac.acks a WHERE a.run_id = $1) = 1
				FROM rac.expectations e JOIN rac.tenants t ON t.id = e.tenant_id WHERE e.run_id = $1`,
				run, declaredBy, l.Tenant()).Scan(&ok))
			return ok
		})
	})
}

func ptr[T any](v T) *T { return &v }
