package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// LoginRole creates a login role with a random name and password that is a
// member of roles (the name needs quoting, `rac-Test-` and hex, so every
// test that writes as a role proves that names are quoted where they
// must be), and returns a connection URL for db as that role and the
// role's name. It is created through db.Admin(); when the test ends, after
// the cleanups registered later (such as the role's own pools) have run,
// DROP OWNED revokes whatever it was granted in db and the role is dropped.
// The password makes the URL work against a server that does not trust
// local connections.
func LoginRole(t testing.TB, db Database, roles ...string) (roleURL, name string) {
	t.Helper()
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatalf("pgtest: login role name: %v", err)
	}
	name = "rac-Test-" + hex.EncodeToString(suffix)
	return NamedLoginRole(t, db, name, roles...), name
}

// NamedLoginRole is LoginRole for a role called name, which the caller
// makes unique in the cluster: a URL for db as that role, with a random
// password; dropped, with what it owns in db, when the test ends.
func NamedLoginRole(t testing.TB, db Database, name string, roles ...string) (roleURL string) {
	t.Helper()
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatalf("pgtest: login role secret: %v", err)
	}
	password := hex.EncodeToString(secret)
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatalf("pgtest: parse database URL: %v", err)
	}
	u.User = url.UserPassword(name, password)

	ident := pgx.Identifier{name}.Sanitize()
	create := `CREATE ROLE ` + ident + ` LOGIN PASSWORD '` + password + `'`
	if len(roles) > 0 {
		groups := make([]string, len(roles))
		for i, r := range roles {
			groups[i] = pgx.Identifier{r}.Sanitize()
		}
		create += ` IN ROLE ` + strings.Join(groups, ", ")
	}
	adminExec(t, db, "create login role "+name, create)
	t.Cleanup(func() {
		adminExec(t, db, "drop login role "+name, `DROP OWNED BY `+ident, `DROP ROLE `+ident)
	})
	return u.String()
}

// adminExec runs the statements in order on a new superuser connection to
// db, failing the test (doing what) on the first error.
func adminExec(t testing.TB, db Database, what string, statements ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.Admin())
	if err != nil {
		t.Fatalf("pgtest: %s: connect: %v", what, err)
	}
	defer conn.Close(ctx)
	for _, sql := range statements {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("pgtest: %s: %v", what, err)
		}
	}
}
