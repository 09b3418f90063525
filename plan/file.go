package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/milink/milink/internal/atomicfile"
	"github.com/milink/milink/state"
)

// planFile is what `plan -out` writes. It holds no secrets: changes carry
// fingerprints and redacted statements only. Salt is kept so that a plan
// made before the first state was written can still be checked against the
// configuration hash it was made with.
type planFile struct {
	Magic string `json:"milink_plan"`
	Plan  *Plan  `json:"plan"`
	Salt  string `json:"salt"`
}

const planMagic = "milink saved plan"

// Save writes the plan to path (mode 0600: it describes the environment).
func Save(path string, p *Plan, salt string) error {
	data, err := json.MarshalIndent(planFile{Magic: planMagic, Plan: p, Salt: salt}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding plan file %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing plan file: %w", err)
	}
	return nil
}

// Load reads a plan file written by Save.
func Load(path string) (*Plan, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading plan file: %w", err)
	}
	var f planFile
	if err := json.Unmarshal(data, &f); err != nil || f.Magic != planMagic || f.Plan == nil {
		return nil, "", fmt.Errorf("%s is not a milink plan file", path)
	}
	major := func(v string) string { return strings.SplitN(v, ".", 2)[0] }
	if major(f.Plan.FormatVersion) != major(FormatVersion) {
		return nil, "", fmt.Errorf("%s has plan format %s; this milink reads %s", path, f.Plan.FormatVersion, FormatVersion)
	}
	return f.Plan, f.Salt, nil
}

// ErrStale is returned by CheckFresh when the plan no longer describes the
// world it was made for.
var ErrStale = errors.New("saved plan is stale")

// CheckFresh refuses a saved plan whose state or configuration changed since
// it was made. configHash is the configuration's hash now, with the same salt.
func CheckFresh(p *Plan, st *state.State, configHash string) error {
	if p.Lineage != st.Lineage {
		return fmt.Errorf("%w: it was made for state lineage %s, the state now has lineage %s; run milink plan again", ErrStale, p.Lineage, st.Lineage)
	}
	if p.Serial != st.Serial {
		return fmt.Errorf("%w: the state changed since the plan was made (serial %d, now %d); run milink plan again", ErrStale, p.Serial, st.Serial)
	}
	if p.ConfigHash != configHash {
		return fmt.Errorf("%w: the configuration or its variables changed since the plan was made; run milink plan again", ErrStale)
	}
	return nil
}
