package host

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// A Windows host over SSH (OpenSSH for Windows). Its sshd gives the
// command line to the default shell, cmd.exe unless configured otherwise,
// so every command is sent as
//
//	powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand <base64 of UTF-16LE>
//
// which needs no quoting in cmd.exe or in PowerShell: the script travels
// as base64. A program that is not PowerShell runs from a script too
// ("& 'program' 'arg' ...; exit $LASTEXITCODE"), its arguments quoted as
// PowerShell literals. Untested against a real Windows host: the command
// lines and scripts are kept as golden files (testdata/ssh).

// psEncodedPrefix is what runs every command on a Windows host.
const psEncodedPrefix = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "

// psMaxCommandLine is the longest command line cmd.exe takes (8191
// characters), less some room.
const psMaxCommandLine = 8000

// psEncode is a script as -EncodedCommand takes it: base64 of UTF-16LE.
func psEncode(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// psScriptOf is the PowerShell script that runs argv: the script itself
// when argv is PowerShellArgv's (powershell.exe ... -Command script),
// otherwise the program called with its arguments as literals.
func psScriptOf(argv []string) string {
	prog := strings.ToLower(argv[0])
	if (prog == "powershell.exe" || prog == "powershell") && len(argv) >= 3 && strings.EqualFold(argv[len(argv)-2], "-Command") {
		return argv[len(argv)-1]
	}
	var b strings.Builder
	b.WriteString("& ")
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(PSQuote(a))
	}
	b.WriteString("\nexit $LASTEXITCODE\n")
	return b.String()
}

// psBootstrap runs a script too long for the command line: the script
// comes on standard input, as base64 of UTF-8.
const psBootstrap = `$ErrorActionPreference = 'Stop'
$text = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String([Console]::In.ReadToEnd()))
& ([ScriptBlock]::Create($text))
exit $LASTEXITCODE
`

// powerShellCommand is the command line that runs argv on a Windows host,
// and its standard input: stdin, or the script itself when it is too long
// for the command line (then argv's program must not read stdin).
func powerShellCommand(argv []string, stdin []byte) (string, []byte, error) {
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return "", nil, fmt.Errorf("argument %d of %s has a NUL byte, which no program can be given", i, CommandText(argv[:1]))
		}
	}
	script := psScriptOf(argv)
	line := psEncodedPrefix + psEncode(script)
	if len(line) <= psMaxCommandLine {
		return line, stdin, nil
	}
	if stdin != nil {
		return "", nil, fmt.Errorf("%s: the script (%d characters) is too long for a Windows command line and the program reads standard input", CommandText(argv[:1]), len(script))
	}
	return psEncodedPrefix + psEncode(psBootstrap), []byte(base64.StdEncoding.EncodeToString([]byte(script))), nil
}

// psFilePrelude stops at the first error and reports it as
// "milink-error: notexist|permission|other: message" on stderr, which
// sshFileError recognises.
const psFilePrelude = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
trap {
	$e = $_.Exception
	while ($e.InnerException) { $e = $e.InnerException }
	$kind = 'other'
	if ($e -is [System.IO.FileNotFoundException] -or $e -is [System.IO.DirectoryNotFoundException] -or $e -is [System.Management.Automation.ItemNotFoundException]) { $kind = 'notexist' }
	elseif ($e -is [System.UnauthorizedAccessException] -or $e -is [System.Security.SecurityException]) { $kind = 'permission' }
	[Console]::Error.WriteLine('milink-error: ' + $kind + ': ' + $e.Message)
	exit 1
}
`

// psReadScript prints the file as base64 after a marker.
func psReadScript(p string) string {
	return psFilePrelude + fmt.Sprintf(`$path = %s
$bytes = [IO.File]::ReadAllBytes($path)
[Console]::Out.Write('%s' + [Convert]::ToBase64String($bytes))
`, PSQuote(p), sshReadMarker)
}

// psStatScript prints "milink-stat: <dir 0|1> <read-only 0|1> <length> <unix mtime>".
func psStatScript(p string) string {
	return psFilePrelude + fmt.Sprintf(`$item = Get-Item -LiteralPath %s -Force
$dir = [int]$item.PSIsContainer
$ro = [int](($item.Attributes -band [IO.FileAttributes]::ReadOnly) -ne 0)
$len = 0
if (-not $item.PSIsContainer) { $len = $item.Length }
$mtime = [DateTimeOffset]::new($item.LastWriteTimeUtc).ToUnixTimeSeconds()
[Console]::Out.Write("milink-stat: $dir $ro $len $mtime")
`, PSQuote(p))
}

// psWriteScript replaces the file with standard input atomically: a
// temporary file in the same directory, then File.Replace (which keeps
// the old file's ACL, owner and attributes) or, for a new file, a move.
func psWriteScript(p string) string {
	return psFilePrelude + fmt.Sprintf(`$path = %s
if (Test-Path -LiteralPath $path -PathType Container) { throw "$path is not a regular file" }
$dir = [IO.Path]::GetDirectoryName($path)
$tmp = [IO.Path]::Combine($dir, '.' + [IO.Path]::GetFileName($path) + '.milink-' + [Guid]::NewGuid().ToString('N'))
try {
	$in = [Console]::OpenStandardInput()
	$out = [IO.File]::Open($tmp, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write)
	try { $in.CopyTo($out); $out.Flush($true) } finally { $out.Dispose() }
	if (Test-Path -LiteralPath $path -PathType Leaf) {
		[IO.File]::Replace($tmp, $path, $null)
	} else {
		[IO.File]::Move($tmp, $path)
	}
} finally {
	if (Test-Path -LiteralPath $tmp) { Remove-Item -LiteralPath $tmp -Force -ErrorAction SilentlyContinue }
}
`, PSQuote(p))
}

// psRun runs a PowerShell script on the Windows host.
func (s *SSH) psRun(ctx context.Context, script string, stdin []byte) (Output, error) {
	line, in, err := powerShellCommand(PowerShellArgv(script), stdin)
	if err != nil {
		return Output{ExitCode: -1}, err
	}
	return s.run(ctx, line, in)
}

func (s *SSH) readFileWindows(ctx context.Context, p string) ([]byte, error) {
	out, err := s.psRun(ctx, psReadScript(p), nil)
	if err != nil {
		return nil, s.fileError("open", "reading "+p, p, out, err)
	}
	return decodePSRead(p, s.label, out.Stdout)
}

// decodePSRead decodes what psReadScript printed.
func decodePSRead(p, label string, stdout []byte) ([]byte, error) {
	i := bytes.Index(stdout, []byte(sshReadMarker))
	if i < 0 {
		return nil, fmt.Errorf("reading %s: %s: no file contents in the output %q", p, label, cutForError(stdout, sshReadMarker))
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(stdout[i+len(sshReadMarker):])))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %s: the contents are not base64: %v", p, label, err)
	}
	return b, nil
}

func (s *SSH) statWindows(ctx context.Context, p string) (fs.FileInfo, error) {
	out, err := s.psRun(ctx, psStatScript(p), nil)
	if err != nil {
		return nil, s.fileError("stat", "looking at "+p, p, out, err)
	}
	fi, err := parsePSStat(p, out.Stdout)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %s: %w", p, s.label, err)
	}
	return fi, nil
}

// parsePSStat reads what psStatScript printed. Windows has no Unix mode:
// a directory is 0755, a file 0755 (so that a program counts as
// executable) or 0555 when read-only.
func parsePSStat(p string, stdout []byte) (fs.FileInfo, error) {
	i := bytes.Index(stdout, []byte("milink-stat: "))
	if i < 0 {
		return nil, fmt.Errorf("unexpected output: %q", stdout)
	}
	f := strings.Fields(string(stdout[i+len("milink-stat: "):]))
	if len(f) != 4 {
		return nil, fmt.Errorf("unexpected output: %q", stdout)
	}
	var n [4]int64
	for j := range f {
		v, err := strconv.ParseInt(f[j], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected output: %q", stdout)
		}
		n[j] = v
	}
	mode := fs.FileMode(0o755)
	if n[1] == 1 {
		mode = 0o555
	}
	if n[0] == 1 {
		mode = fs.ModeDir | 0o755
	}
	name := p
	if j := strings.LastIndexAny(p, `\/`); j >= 0 {
		name = p[j+1:]
	}
	if name == "" {
		name = path.Base(p)
	}
	return &sshFileInfo{name: name, size: n[2], mode: mode, mtime: time.Unix(n[3], 0)}, nil
}

func (s *SSH) writeFileWindows(ctx context.Context, p string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	out, err := s.psRun(ctx, psWriteScript(p), data)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, s.fileError("write", "writing "+p, p, out, err))
	}
	return nil
}
