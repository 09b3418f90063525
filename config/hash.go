package config

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"github.com/milink/milink/resources"
)

// Hash identifies the configuration for a saved plan: sha256 over the
// configuration files (sorted by name), the files read with file() and the
// variable values. Sensitive variables and file() contents (which may hold
// passwords, as the lab's lab.json does) enter only as
// resources.Fingerprint(salt, value).
func (c *Config) Hash(salt string) string {
	h := sha256.New()
	section(h, "milink-config-v1")
	section(h, "files")
	for _, name := range sortedKeys(c.files) {
		section(h, name)
		section(h, string(c.files[name]))
	}
	section(h, "read")
	for _, name := range sortedKeys(c.read) {
		section(h, name)
		section(h, resources.Fingerprint(salt, string(c.read[name])))
	}
	section(h, "variables")
	for _, name := range sortedKeys(c.variables) {
		v := c.variables[name]
		section(h, name)
		if v.Sensitive {
			section(h, resources.Fingerprint(salt, v.Text))
		} else {
			section(h, v.Text)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// section writes a length-prefixed string, so that no two different inputs
// concatenate to the same bytes.
func section(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}
