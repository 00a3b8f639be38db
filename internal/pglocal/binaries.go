package pglocal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNotInstalled is returned (wrapped) by Start and FindBinaries when no
// PostgreSQL server binaries can be found.
var ErrNotInstalled = errors.New("pglocal: install the PostgreSQL server: " +
	"apt-get install postgresql (Debian/Ubuntu), dnf install postgresql-server (Fedora) " +
	"or brew install postgresql@15 (macOS) — initdb/postgres not found via pg_config, " +
	"/usr/lib/postgresql/*/bin or PATH")

// Binaries are the absolute paths of the server programs a Cluster runs.
type Binaries struct {
	Initdb   string
	Postgres string
}

// FindBinaries locates initdb and postgres. It tries, in order: the
// directory printed by `pg_config --bindir`, the highest-versioned
// /usr/lib/postgresql/*/bin holding both programs, and PATH. When none has
// both it returns an error wrapping ErrNotInstalled.
func FindBinaries() (Binaries, error) {
	if dir, ok := pgConfigBinDir(); ok {
		if b, ok := binariesIn(dir); ok {
			return b, nil
		}
	}
	for _, dir := range debianBinDirs() {
		if b, ok := binariesIn(dir); ok {
			return b, nil
		}
	}
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return absBinaries(Binaries{Initdb: initdb, Postgres: postgres})
	}
	return Binaries{}, ErrNotInstalled
}

// BinariesIn returns the server programs in dir, or an error wrapping
// ErrNotInstalled when dir lacks either of them.
func BinariesIn(dir string) (Binaries, error) {
	b, ok := binariesIn(dir)
	if !ok {
		return Binaries{}, fmt.Errorf("%w (looked in %s)", ErrNotInstalled, dir)
	}
	return b, nil
}

func pgConfigBinDir() (string, bool) {
	pgConfig, err := exec.LookPath("pg_config")
	if err != nil {
		return "", false
	}
	out, err := exec.Command(pgConfig, "--bindir").Output()
	if err != nil {
		return "", false
	}
	dir := strings.TrimSpace(string(out))
	return dir, dir != ""
}

// debianBinDirs returns /usr/lib/postgresql/*/bin, highest major first.
func debianBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil {
			return -1
		}
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}

func binariesIn(dir string) (Binaries, bool) {
	b := Binaries{
		Initdb:   filepath.Join(dir, "initdb"),
		Postgres: filepath.Join(dir, "postgres"),
	}
	if !isExecutable(b.Initdb) || !isExecutable(b.Postgres) {
		return Binaries{}, false
	}
	b, err := absBinaries(b)
	return b, err == nil
}

func absBinaries(b Binaries) (Binaries, error) {
	var err error
	if b.Initdb, err = filepath.Abs(b.Initdb); err != nil {
		return Binaries{}, fmt.Errorf("pglocal: %w", err)
	}
	if b.Postgres, err = filepath.Abs(b.Postgres); err != nil {
		return Binaries{}, fmt.Errorf("pglocal: %w", err)
	}
	return b, nil
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
