package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const catalogFile = "catalog.json"

// loadCatalog reads DataDir/catalog.json; nil, nil when there is none yet.
func loadCatalog(dir string) (*catalog, error) {
	b, err := os.ReadFile(filepath.Join(dir, catalogFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("engine: read catalogue: %w", err)
	}
	var c catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("engine: parse catalogue %s: %w", filepath.Join(dir, catalogFile), err)
	}
	return &c, nil
}

// saveLocked writes the catalogue atomically: temp file, fsync, rename.
func (i *Instance) saveLocked() error {
	b, err := json.MarshalIndent(i.cat, "", "  ")
	if err != nil {
		return fmt.Errorf("engine: encode catalogue: %w", err)
	}
	dir := i.opts.DataDir
	f, err := os.CreateTemp(dir, ".catalog-*.json")
	if err != nil {
		return fmt.Errorf("engine: save catalogue: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("engine: save catalogue: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("engine: save catalogue: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("engine: save catalogue: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("engine: save catalogue: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, catalogFile)); err != nil {
		return fmt.Errorf("engine: save catalogue: %w", err)
	}
	return nil
}
