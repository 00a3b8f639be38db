package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PrimarySettings returns the server settings of a primary that streaming
// standbys (StartStandby) replicate from, to merge into Options.Settings.
// They are PostgreSQL 15's defaults made explicit (wal_level=replica, ten
// WAL senders and slots) plus wal_log_hints=on, which pg_rewind needs to
// turn a failed primary into a standby of the promoted one, and
// hot_standby_feedback=on, which matters on the standbys started with the
// same settings (long read-only snapshots there are not cancelled by
// vacuum on the primary).
//
// synchronous_standby_names is not among them: set it once a standby is
// streaming (SetSynchronousStandbys), or every write waits for a standby
// that does not exist yet.
func PrimarySettings() map[string]string {
	return map[string]string{
		"wal_level":             "replica",
		"max_wal_senders":       "10",
		"max_replication_slots": "10",
		"wal_log_hints":         "on",
		"hot_standby":           "on",
		"hot_standby_feedback":  "on",
		"shared_buffers":        "32MB",
	}
}

// StandbyOptions configure StartStandby.
type StandbyOptions struct {
	// Settings are extra server settings for the standby, as in
	// Options.Settings. Default: PrimarySettings, so that a promoted
	// standby can itself serve standbys.
	Settings map[string]string
	// ApplicationName names the standby in the primary's
	// pg_stat_replication and in synchronous_standby_names. Default
	// "standby".
	ApplicationName string
	// StartTimeout bounds the wait for the standby to accept connections;
	// DefaultStartTimeout when zero.
	StartTimeout time.Duration
}

// StartStandby makes a hot standby of primary: a base backup taken with
// pg_basebackup -R (which writes standby.signal and primary_conninfo) into
// a temporary directory, started as a throwaway cluster that Stop removes.
// The standby streams from primary over its Unix socket, without a
// replication slot.
func StartStandby(ctx context.Context, primary *Cluster, opts StandbyOptions) (_ *Cluster, err error) {
	logger := primary.logger
	bins, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	basebackup := filepath.Join(filepath.Dir(bins.Initdb), "pg_basebackup")
	if _, err := os.Stat(basebackup); err != nil {
		return nil, fmt.Errorf("pglocal: standby: pg_basebackup not found next to initdb: %w", err)
	}
	ra, err := lookupRunAs()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		return nil, fmt.Errorf("pglocal: standby: temp dir: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(root)
		}
	}()
	if err := ra.chown(root); err != nil {
		return nil, err
	}
	// Written before anything runs, so a launcher that dies now leaves a
	// directory removeStaleTempClusters recognises.
	if err := os.WriteFile(filepath.Join(root, ownerFile), fmt.Appendf(nil, "%d\n\n", os.Getpid()), 0o644); err != nil {
		return nil, fmt.Errorf("pglocal: standby: %w", err)
	}
	dataDir := filepath.Join(root, "data")
	appName := opts.ApplicationName
	if appName == "" {
		appName = "standby"
	}
	conninfo := fmt.Sprintf("host=%s port=%d user=%s application_name=%s",
		primary.sockDir, primary.port, Superuser, appName)
	cmd := exec.CommandContext(ctx, basebackup, "-D", dataDir, "-R", "-X", "stream",
		"--checkpoint=fast", "-d", conninfo)
	cmd.Dir = "/"
	cmd.SysProcAttr = sysProcAttr(ra.credential(), syscall.SIGKILL)
	started := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pglocal: standby: pg_basebackup: %w\n%s", err, tailLines(out, 40))
	}
	logger.Info("pglocal: base backup done", "data_dir", dataDir, "took", time.Since(started))

	settings := opts.Settings
	if settings == nil {
		settings = PrimarySettings()
	}
	c, err := Start(ctx, Options{DataDir: dataDir, Port: primary.port, Settings: settings,
		StartTimeout: opts.StartTimeout, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("pglocal: standby: %w", err)
	}
	// From now on the standby is a throwaway cluster: Stop removes root.
	c.tempRoot = root
	owner := fmt.Sprintf("%d\n%s\n", os.Getpid(), c.sockDir)
	if err := os.WriteFile(filepath.Join(root, ownerFile), []byte(owner), 0o644); err != nil {
		return nil, errors.Join(fmt.Errorf("pglocal: standby: %w", err), c.Stop(context.WithoutCancel(ctx)))
	}
	return c, nil
}

// Crash kills the server as a power cut or an OOM kill would: SIGKILL to
// the postmaster and every process of its group (its backends, WAL writer
// and WAL senders), without a shutdown checkpoint, and waits for the
// postmaster to exit. Stop still removes its directories afterwards.
func (c *Cluster) Crash() error {
	if c.cmd == nil || c.exitedNow() {
		return nil
	}
	pid := c.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("pglocal: crash: kill process group %d: %w", pid, err)
	}
	if !c.waitExit(context.Background(), 10*time.Second) {
		return fmt.Errorf("pglocal: crash: postgres (pid %d) did not exit after SIGKILL", pid)
	}
	c.logger.Info("pglocal: cluster crashed (SIGKILL)", "data_dir", c.dataDir)
	return nil
}

// Promote ends a standby's recovery (pg_promote, waiting up to timeout) and
// returns once it accepts writes. A promoted standby keeps the settings it
// was started with, synchronous_standby_names included.
func (c *Cluster) Promote(ctx context.Context, timeout time.Duration) error {
	conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: promote: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	secs := max(1, int(timeout/time.Second))
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_promote(true, $1)", secs).Scan(&ok); err != nil {
		return fmt.Errorf("pglocal: promote: %w", err)
	}
	if !ok {
		return fmt.Errorf("pglocal: promote: not promoted within %v", timeout)
	}
	c.logger.Info("pglocal: standby promoted", "data_dir", c.dataDir)
	return nil
}

// SetSynchronousStandbys sets synchronous_standby_names on the server
// (ALTER SYSTEM, then a configuration reload): commits then wait until
// the named standbys (for example "*" or "FIRST 1 (standby)") have flushed
// them, or, with "", no longer wait. ALTER SYSTEM writes
// postgresql.auto.conf, which is not replicated: standbys made before the
// call do not inherit the setting, standbys made after it (their base
// backup copies the file) do, and then wait for a standby of their own
// once promoted.
func (c *Cluster) SetSynchronousStandbys(ctx context.Context, names string) error {
	conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: synchronous_standby_names: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = "+quoteLiteral(names)); err != nil {
		return fmt.Errorf("pglocal: synchronous_standby_names: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("pglocal: synchronous_standby_names: reload: %w", err)
	}
	return nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
