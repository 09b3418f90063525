package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/milink/milink/lab/engine"
)

// shellLines returns the command lines of the ```sh and ```powershell blocks of a Markdown
// file, comments and surrounding space removed.
func shellLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"), strings.HasPrefix(line, "```powershell"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in:
			if i := strings.Index(line, "#"); i >= 0 {
				line = line[:i]
			}
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	return out
}

// The lab's README describes the lab milink starts by default, and its
// commands are the main README's tutorial: milink built at the root of the
// repository and run as ../../milink, not a milink nobody installed.
func TestLabREADME(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("lab", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	p, ok := engine.LookupProfile(engine.DefaultProfile)
	if !ok {
		t.Fatalf("no default profile %q", engine.DefaultProfile)
	}
	year := map[string]string{"13": "2016", "14": "2017", "15": "2019", "16": "2022"}[strings.SplitN(p.ProductVersion, ".", 2)[0]]
	if !strings.Contains(text, "`"+engine.DefaultProfile+"`") || !strings.Contains(text, "SQL Server "+year+" ") {
		t.Errorf("lab/README.md does not describe the default profile %s (SQL Server %s)", engine.DefaultProfile, year)
	}
	for _, other := range []string{"2016", "2017", "2019", "2022"} {
		if other != year && strings.Contains(text, "SQL Server "+other) {
			t.Errorf("lab/README.md says SQL Server %s; the lab's default is %s", other, year)
		}
	}
	tutorial := strings.Join(shellLines(t, filepath.Join("..", "README.md")), "\n")
	lines := shellLines(t, filepath.Join("lab", "README.md"))
	if len(lines) == 0 {
		t.Fatal("lab/README.md has no commands")
	}
	for _, line := range lines {
		if strings.HasPrefix(line, "milink ") {
			t.Errorf("bare %q: the tutorial runs ../../milink", line)
		}
		if strings.HasPrefix(line, "../../milink") && !strings.Contains(tutorial, line) {
			t.Errorf("%q is not a command of the main README's tutorial", line)
		}
	}
}

// The READMEs of the other examples say where milink comes from (nothing
// installs it), run it as a built binary, show plan and apply, and name the
// backup directories their configuration writes to.
func TestExampleREADMEs(t *testing.T) {
	dirLiteral := regexp.MustCompile(`directory\s*=\s*"((?:[^"\\]|\\.)*)"`)
	for _, dir := range []string{"linux-2022-azure-vm", "windows-2016", "windows-2019-on-premises"} {
		t.Run(dir, func(t *testing.T) {
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			hcl, err := os.ReadFile(filepath.Join(dir, "main.milink.hcl"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(readme), "go build") {
				t.Error("README does not say how to build milink")
			}
			var plan, apply bool
			for _, line := range shellLines(t, filepath.Join(dir, "README.md")) {
				if strings.HasPrefix(line, "milink ") {
					t.Errorf("bare %q: milink is not installed on the PATH", line)
				}
				plan = plan || strings.HasSuffix(line, "milink plan") || strings.HasSuffix(line, "milink.exe plan")
				apply = apply || strings.HasSuffix(line, "milink apply") || strings.HasSuffix(line, "milink.exe apply")
			}
			if !plan || !apply {
				t.Errorf("README commands: plan %v, apply %v; want both", plan, apply)
			}
			for _, m := range dirLiteral.FindAllStringSubmatch(string(hcl), -1) {
				if d := strings.ReplaceAll(m[1], `\\`, `\`); !strings.Contains(string(readme), d) {
					t.Errorf("README does not name the backup directory %s", d)
				}
			}
		})
	}
}
