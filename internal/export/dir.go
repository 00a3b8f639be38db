package export

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/racledger/racledger/internal/canon"
)

// tempPrefix starts the name of a file being written; it is renamed when
// complete.
const tempPrefix = ".rac-export-tmp-"

// prepareDir creates dir if needed (reporting whether it did) and checks
// it is empty; with force it first removes what a previous or interrupted
// export left there (manifest, signature, data files of any format,
// temporary files), and refuses a directory holding anything else.
func prepareDir(dir string, force bool) (created bool, err error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create output directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return created, fmt.Errorf("read output directory: %w", err)
	}
	if len(entries) == 0 {
		return created, nil
	}
	if !force {
		return false, fmt.Errorf("%w: %s holds %d entries (use --force to replace a previous export)", ErrNotEmpty, dir, len(entries))
	}
	var foreign []string
	for _, ent := range entries {
		if !ent.Type().IsRegular() || !isExportFile(ent.Name()) {
			foreign = append(foreign, ent.Name())
		}
	}
	if len(foreign) > 0 {
		return false, fmt.Errorf("%w: %s holds %q, which no export writes: --force replaces only a previous export; "+
			"move those away or choose another --out", ErrNotEmpty, dir, foreign)
	}
	for _, ent := range entries {
		if err := os.Remove(filepath.Join(dir, ent.Name())); err != nil {
			return false, fmt.Errorf("remove previous export file: %w", err)
		}
	}
	return false, nil
}

// isExportFile reports whether name is a file an export writes.
func isExportFile(name string) bool {
	if name == ManifestName || name == SignatureName || strings.HasPrefix(name, tempPrefix) {
		return true
	}
	for i := range canon.Tables {
		for _, f := range Formats {
			if name == f.FileName(&canon.Tables[i]) {
				return true
			}
		}
	}
	return false
}

// writeManifest writes manifest.json and, with a signing key,
// manifest.json.sig: both under temporary names first; the signature is
// renamed into place before the manifest, so a manifest never appears
// without the signature it was meant to have.
func (e *exporter) writeManifest(m *Manifest) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	if e.opts.SignKey != nil {
		sig := ed25519.Sign(e.opts.SignKey, b)
		if err := e.writeFileAtomic(SignatureName, sig, 0o644); err != nil {
			return err
		}
	}
	if err := e.writeFileAtomic(ManifestName, b, 0o644); err != nil {
		return err
	}
	return syncDir(e.opts.Dir)
}

// writeFileAtomic writes data to name in the export directory through a
// temporary file, synced and renamed.
func (e *exporter) writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	final := filepath.Join(e.opts.Dir, name)
	tmp := filepath.Join(e.opts.Dir, tempPrefix+name)
	e.written = append(e.written, tmp)
	if err := writeSynced(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	e.written = append(e.written, final)
	return nil
}

// writeSynced creates path (which must not exist) with data and syncs it.
func writeSynced(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
