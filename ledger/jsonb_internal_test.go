package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/racledger/racledger/internal/pgtest"
)

// FuzzJSONBText holds jsonbText to PostgreSQL itself: a document it
// accepts, PostgreSQL accepts as jsonb with a text form of exactly that
// many bytes; one it refuses (short of its own nesting bound), PostgreSQL
// refuses.
func FuzzJSONBText(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `[]`, `{}`, `[1,[2,{}],{"b":[]}]`, ` null `, `true`, `"x"`,
		`{"a":1,"a":2}`, `{"b":1,"a":2,"b":[3,4]}`,
		`-0`, `-0.0e5`, `1.50e1`, `0.00001e3`, `12.5e-20`, `1E+2`, `123e-1`, `-12.34`, `0e1000000`, `0e-16383`,
		`0e-16384`, `1e131071`, `1e131072`, `1e1000000`, `[1e-1000000]`, `0e1073741822`, `0e1073741823`,
		`"\ud800"`, `{"k":"\udfff"}`, `"\ud83d\ude00"`, `"\ud83dA"`, `"\ud83d\ud83d"`, `"\u0000"`, `{"\u0000":1}`,
		`"\b\f\n\r\t\u0001\u001f\/\\\""`, `"\u00e9\u2028"`, "\"é\x7f\"", "\"\xff\"", "\"\xe2\x82\"",
		`01`, `1.`, `.5`, `+1`, `1e`, `[1,]`, `{"a"}`, `tru`, `nul`, `"abc`, `[1 2]`, "\t[1]\r\n",
	} {
		f.Add([]byte(s))
	}
	pool := pgtest.NewPool(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, reason := jsonbText(raw)
		var pgN int
		err := pool.QueryRow(context.Background(), `SELECT octet_length($1::text::jsonb::text)`, string(raw)).Scan(&pgN)
		if err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				t.Fatalf("not a server error: %v", err)
			}
		}
		switch {
		case reason == "" && err != nil:
			t.Fatalf("%q: accepted in Go (%d bytes), refused by PostgreSQL: %v", raw, n, err)
		case reason == "" && n != pgN:
			t.Fatalf("%q: %d bytes as jsonb text in Go, %d in PostgreSQL", raw, n, pgN)
		case reason != "" && err == nil && !strings.Contains(reason, "nested deeper"):
			t.Fatalf("%q: refused in Go (%s), accepted by PostgreSQL", raw, reason)
		}
	})
}
