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

	"github.com/milink/milink/internal/atomicfile"
)

// Format returns src in canonical HCL layout. Source with syntax errors is
// not formatted (hclwrite would make a guess); the errors are returned.
func Format(src []byte) ([]byte, hcl.Diagnostics) {
	return formatNamed(src, "<input>")
}

func formatNamed(src []byte, name string) ([]byte, hcl.Diagnostics) {
	out, _, diags := formatFile(src, name)
	return out, diags
}

// formatFile is formatNamed that also returns the parsed file, so that
// syntax errors can be shown with their source snippet.
func formatFile(src []byte, name string) ([]byte, *hcl.File, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, f, diags
	}
	return hclwrite.Format(src), f, nil
}

// FormatDir formats every *.milink.hcl file of dir. It returns the paths of
// the files whose layout changed (or would change, with check), and
// rewrites them unless check is set. Files with syntax errors are left as
// they are and reported in diags; src holds the files read, so that
// src.WriteDiagnostics prints those errors with their snippets as
// validate does. src is never nil.
func FormatDir(dir string, check bool) (changed []string, src *Sources, diags hcl.Diagnostics, err error) {
	src = &Sources{files: map[string]*hcl.File{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, src, nil, fmt.Errorf("reading configuration directory: %w", err)
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
		data, err := os.ReadFile(path)
		if err != nil {
			return changed, src, diags, fmt.Errorf("reading %s: %w", path, err)
		}
		out, f, ds := formatFile(data, path)
		if f != nil {
			src.files[path] = f
		}
		diags = append(diags, ds...)
		if ds.HasErrors() || bytes.Equal(out, data) {
			continue
		}
		changed = append(changed, path)
		if check {
			continue
		}
		if err := writeFileKeepMode(path, out); err != nil {
			return changed, src, diags, err
		}
	}
	return changed, src, diags, nil
}

// writeFileKeepMode replaces a file atomically and durably (fsynced: a
// crash right after fmt must not leave a configuration file empty),
// keeping its permissions.
func writeFileKeepMode(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("formatting %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("formatting: %w", err)
	}
	return nil
}
