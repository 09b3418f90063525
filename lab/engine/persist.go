package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/milink/milink/internal/atomicfile"
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

// saveLocked writes the catalogue atomically and durably (see
// internal/atomicfile), unless the instance is Scratch.
func (i *Instance) saveLocked() error {
	if i.opts.Scratch {
		return nil
	}
	b, err := json.MarshalIndent(i.cat, "", "  ")
	if err != nil {
		return fmt.Errorf("engine: encode catalogue: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(i.opts.DataDir, catalogFile), b, 0o600); err != nil {
		return fmt.Errorf("engine: save catalogue: %w", err)
	}
	return nil
}
