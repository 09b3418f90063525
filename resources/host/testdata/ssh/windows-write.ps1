$ErrorActionPreference = 'Stop'
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
$path = 'C:\Program Files\Microsoft SQL Server\it''s ‘‘here’’.conf'
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
