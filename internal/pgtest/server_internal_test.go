package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigFromURL(t *testing.T) {
	for _, tc := range []struct {
		name, url                     string
		host, port, user, db, options string
	}{
		{
			name: "tcp with awkward password",
			url:  "postgres://admin:p%40ss%3Aw%2Frd%3F%26%3Dx@db.example:6543/main?sslmode=require&application_name=t",
			host: "db.example", port: "6543", user: "admin", db: "main",
			options: "application_name=t&password=p%40ss%3Aw%2Frd%3F%26%3Dx&sslmode=require",
		},
		{
			name: "unix socket",
			url:  "postgresql://postgres@/postgres?host=/tmp/rac123&port=5432&sslmode=disable",
			host: "", port: "5432", user: "postgres", db: "postgres",
			options: "host=%2Ftmp%2Frac123&sslmode=disable",
		},
		{
			name: "ipv6 and default database",
			url:  "postgres://postgres:pw@[::1]:5432",
			host: "[::1]", port: "5432", user: "postgres", db: "postgres",
			options: "password=pw",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := configFromURL(tc.url)
			require.NoError(t, err)
			assert.Equal(t, tc.host, conf.Host)
			assert.Equal(t, tc.port, conf.Port)
			assert.Equal(t, tc.user, conf.User)
			assert.Equal(t, tc.db, conf.Database)
			assert.Equal(t, tc.options, conf.Options)
			assert.Empty(t, conf.Password)
			require.NotNil(t, conf.TestRole)
			assert.Equal(t, tc.user, conf.TestRole.Username)
			assert.True(t, conf.ForceTerminateConnections)

			// Both pgtestdb's URL and ours must parse back to the same target.
			want, err := pgconn.ParseConfig(tc.url)
			require.NoError(t, err)
			for _, u := range []string{conf.URL(), formatURL(conf)} {
				got, err := pgconn.ParseConfig(u)
				require.NoError(t, err, u)
				assert.Equal(t, want.Host, got.Host, u)
				assert.Equal(t, want.Port, got.Port, u)
				assert.Equal(t, want.User, got.User, u)
				assert.Equal(t, want.Password, got.Password, u)
			}
		})
	}
}

func TestConfigFromURLRejectsOtherForms(t *testing.T) {
	_, err := configFromURL("host=/tmp user=postgres password=secret")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
}

func TestDiscoverFailsWithInstructions(t *testing.T) {
	t.Setenv(EnvDatabaseURL, "")
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	localBinDir = t.TempDir()
	t.Cleanup(func() { localBinDir = "" })

	srv, err := discover(context.Background())
	if srv != nil && srv.stop != nil {
		_ = srv.stop(context.Background())
	}
	require.Error(t, err)
	for _, want := range []string{EnvDatabaseURL, "Docker", "apt-get install postgresql", "initdb/postgres not found"} {
		assert.Contains(t, err.Error(), want)
	}
	t.Log(err)
}
