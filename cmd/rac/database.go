package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// redactedPassword replaces a password wherever rac shows a database URL.
const redactedPassword = "xxxxx"

// databaseURLFlag is the value of --database-url. It holds the real URL
// but shows it redacted, so -h (which prints the default, DATABASE_URL)
// and flag errors never print a password.
type databaseURLFlag struct{ p *string }

func (f databaseURLFlag) String() string {
	if f.p == nil {
		return ""
	}
	return redactURL(*f.p)
}

func (f databaseURLFlag) Set(s string) error {
	*f.p = s
	return nil
}

// databaseFlag registers --database-url on fs; its default is the
// --database-url given before the command, else DATABASE_URL. When all are
// empty, connect reads the libpq variables (PGHOST, PGUSER, ...) and
// ~/.pgpass.
func databaseFlag(fs *flag.FlagSet, env *environment) *string {
	p := new(string)
	*p = cmp.Or(env.databaseURL, env.getenv("DATABASE_URL"))
	fs.Var(databaseURLFlag{p}, "database-url",
		"PostgreSQL connection `URL` (libpq URL or key=value); default $DATABASE_URL (shown with its password redacted), "+
			"else the libpq variables PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSERVICE and ~/.pgpass")
	return p
}

// libpqVars are the libpq environment variables that name a server or a
// database; one of them set means a connection without a URL is meant.
var libpqVars = []string{"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}

// libpqConfigured reports whether getenv sets any of libpqVars.
func libpqConfigured(getenv func(string) string) bool {
	for _, v := range libpqVars {
		if getenv(v) != "" {
			return true
		}
	}
	return false
}

// kvPasswordRE matches a password in a key=value connection string, quoted
// or not.
var kvPasswordRE = regexp.MustCompile(`(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)

// redactURL returns conn (a libpq URL or key=value string) with every
// password replaced by xxxxx: postgres://user:xxxxx@host/db.
func redactURL(conn string) string {
	if conn == "" {
		return ""
	}
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err != nil {
			// Unparseable: keep the scheme only rather than risk a password.
			scheme, _, _ := strings.Cut(conn, "://")
			return scheme + "://" + redactedPassword + "@(unparseable URL)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redactedPassword)
		}
		q := u.Query()
		changed := false
		for k := range q {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				q.Set(k, redactedPassword)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPasswordRE.ReplaceAllString(conn, "${1}"+redactedPassword)
}

// passwordsIn returns the passwords conn holds (a libpq URL or key=value
// string), for scrubbing them from error texts that might quote them.
func passwordsIn(conn string) []string {
	var out []string
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		if u, err := url.Parse(conn); err == nil {
			if pw, has := u.User.Password(); has && pw != "" {
				out = append(out, pw)
			}
			for k, vs := range u.Query() {
				if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
					for _, v := range vs {
						if v != "" {
							out = append(out, v)
						}
					}
				}
			}
			return out
		}
		// Unparseable: take what lies between the first ':' after the
		// scheme and the last '@'.
		rest := conn[strings.Index(conn, "://")+3:]
		if at := strings.LastIndex(rest, "@"); at > 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				out = append(out, pw)
			}
		}
		return out
	}
	for _, m := range kvPasswordRE.FindAllStringSubmatch(conn, -1) {
		pw := strings.Trim(m[2], "'")
		if pw != "" {
			out = append(out, pw)
		}
	}
	return out
}

// scrubbedError is an error whose text has secrets replaced by xxxxx; it
// unwraps to the original so errors.Is still sees through it.
type scrubbedError struct {
	err     error
	secrets []string
}

func (e *scrubbedError) Error() string { return scrub(e.err.Error(), e.secrets) }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub replaces each secret in s by xxxxx.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redactedPassword)
			if esc := url.QueryEscape(sec); esc != sec {
				s = strings.ReplaceAll(s, esc, redactedPassword)
			}
			if esc := url.PathEscape(sec); esc != sec {
				s = strings.ReplaceAll(s, esc, redactedPassword)
			}
		}
	}
	return s
}

// scrubError returns err with the passwords of conn scrubbed from its text
// (nil for nil).
func scrubError(err error, conn string) error {
	if err == nil {
		return nil
	}
	secrets := passwordsIn(conn)
	if len(secrets) == 0 {
		return err
	}
	var se *scrubbedError
	if errors.As(err, &se) {
		se.secrets = append(se.secrets, secrets...)
		return err
	}
	return &scrubbedError{err: err, secrets: secrets}
}

// connect opens a pool to url and checks that the server answers. Each
// configure function may adjust the pool's configuration first. Its
// errors never quote the password.
//
// An empty url means the libpq variables (PGHOST, PGPORT, PGDATABASE,
// PGUSER, PGPASSWORD, PGSERVICE, PGSSLMODE, ...) and ~/.pgpass, as psql
// reads them; with none of them set it is a usage error. The variables
// come from the process environment (pgx reads them).
func connect(ctx context.Context, url string, configure ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	pool, err := openPool(ctx, url, configure...)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, scrubError(fmt.Errorf("connect to database: %w", err), url)
	}
	return pool, nil
}

// openPool is connect without the ping: the pool connects when first
// used, so a server that is down is not an error yet.
func openPool(ctx context.Context, url string, configure ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	pool, err := buildPool(ctx, url, configure...)
	return pool, scrubError(err, url)
}

func buildPool(ctx context.Context, url string, configure ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	if url == "" && !libpqConfigured(os.Getenv) {
		return nil, fmt.Errorf("%w: no database: pass --database-url, set DATABASE_URL, or set the libpq variables (PGHOST, PGDATABASE, PGUSER, ...)", errUsage)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		if url == "" {
			return nil, fmt.Errorf("%w: read the libpq variables: %v", errUsage, err)
		}
		return nil, fmt.Errorf("%w: parse database url %s: %v", errUsage, redactURL(url), err)
	}
	for _, f := range configure {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return pool, nil
}

// secretsOf returns the passwords of every connection string rac may have
// been given: DATABASE_URL and any argument (or flag=value) that is one.
func secretsOf(args []string, getenv func(string) string) []string {
	secrets := passwordsIn(getenv("DATABASE_URL"))
	for _, v := range []string{getenv("PGPASSWORD"), os.Getenv("PGPASSWORD")} {
		if v != "" {
			secrets = append(secrets, v)
		}
	}
	for _, a := range args {
		if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "-") {
			a = v
		}
		secrets = append(secrets, passwordsIn(a)...)
	}
	return secrets
}
