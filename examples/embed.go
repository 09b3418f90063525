// Package examples carries the example configurations into the milink
// binary, so that `milink lab demo` can write examples/lab wherever it runs.
package examples

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed lab/*.milink.hcl
var lab embed.FS

// WriteLab writes the configuration of examples/lab into dir.
func WriteLab(dir string) error {
	entries, err := lab.ReadDir("lab")
	if err != nil {
		return fmt.Errorf("reading the embedded lab example: %w", err)
	}
	for _, e := range entries {
		data, err := lab.ReadFile("lab/" + e.Name())
		if err != nil {
			return fmt.Errorf("reading the embedded lab example: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			return fmt.Errorf("writing the lab example: %w", err)
		}
	}
	return nil
}
