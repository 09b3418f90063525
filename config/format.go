package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical HCL layout. Source with syntax errors is
// not formatted (hclwrite would make a guess); the errors are returned.
func Format(src []byte) ([]byte, hcl.Diagnostics) {
	return formatNamed(src, "<input>")
}

func formatNamed(src []byte, name string) ([]byte, hcl.Diagnostics) {
	_, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

// FormatDir formats every *.milink.hcl file of dir. It returns the paths of
// the files whose layout changed (or would change, with check), and
// rewrites them unless check is set. Files with syntax errors are left as
// they are and reported in diags.
func FormatDir(dir string, check bool) (changed []string, diags hcl.Diagnostics, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading configuration directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), FileSuffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		src, err := os.ReadFile(path)
		if err != nil {
			return changed, diags, fmt.Errorf("reading %s: %w", path, err)
		}
		out, ds := formatNamed(src, path)
		diags = append(diags, ds...)
		if ds.HasErrors() || bytes.Equal(out, src) {
			continue
		}
		changed = append(changed, path)
		if check {
			continue
		}
		if err := writeFileKeepMode(path, out); err != nil {
			return changed, diags, err
		}
	}
	return changed, diags, nil
}

// writeFileKeepMode replaces a file atomically, keeping its permissions.
func writeFileKeepMode(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("formatting %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".milink-fmt-*")
	if err != nil {
		return fmt.Errorf("formatting %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("formatting %s: %w", path, err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("formatting %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("formatting %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("formatting %s: %w", path, err)
	}
	return nil
}
