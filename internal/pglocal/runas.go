package pglocal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// runAs is the unprivileged account the server runs as when this process is
// root (PostgreSQL refuses to run as root). A nil *runAs means "run as
// ourselves".
type runAs struct {
	name string
	uid  uint32
	gid  uint32
}

// lookupRunAs returns nil when this process is not root, otherwise the
// postgres user if it exists, else nobody.
func lookupRunAs() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &runAs{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, errors.New("pglocal: running as root, and PostgreSQL refuses to run as root, " +
		"but neither a postgres nor a nobody user exists: create one (useradd --system postgres) " +
		"or run as an unprivileged user")
}

// credential returns the credential child processes switch to, or nil.
func (r *runAs) credential() *syscall.Credential {
	if r == nil {
		return nil
	}
	// An empty (non-nil) Groups drops root's supplementary groups.
	return &syscall.Credential{Uid: r.uid, Gid: r.gid, Groups: []uint32{}}
}

// chown gives path to the run-as user; a no-op when not root.
func (r *runAs) chown(path string) error {
	if r == nil {
		return nil
	}
	if err := os.Lchown(path, int(r.uid), int(r.gid)); err != nil {
		return fmt.Errorf("pglocal: chown %s to %s: %w", path, r.name, err)
	}
	return nil
}

// chownTree gives every file under root to the run-as user when root itself
// belongs to someone else (a data directory first created by another user).
func (r *runAs) chownTree(root string) error {
	if r == nil {
		return nil
	}
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == r.uid && sys.Gid == r.gid {
		return nil
	}
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		return r.chown(path)
	})
}

// ensureTraversable makes every ancestor directory of path searchable by the
// run-as user, adding the "others may search" bit (o+x) where needed. Test
// temp directories (0700, owned by root) are the common case.
func (r *runAs) ensureTraversable(path string, logger *slog.Logger) error {
	if r == nil {
		return nil
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	for dir := filepath.Dir(resolved); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if !r.canSearch(st) {
			mode := st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			if err := os.Chmod(dir, mode|0o001); err != nil {
				return fmt.Errorf("pglocal: make %s traversable for %s: %w", dir, r.name, err)
			}
			logger.Info("pglocal: made directory traversable for the server user",
				"dir", dir, "user", r.name)
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

func (r *runAs) canSearch(st fs.FileInfo) bool {
	perm := st.Mode().Perm()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return perm&0o001 != 0
	}
	switch {
	case sys.Uid == r.uid:
		return perm&0o100 != 0
	case sys.Gid == r.gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
