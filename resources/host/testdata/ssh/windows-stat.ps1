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
$item = Get-Item -LiteralPath 'C:\Program Files\Microsoft SQL Server\it''s ‘‘here’’.conf' -Force
$dir = [int]$item.PSIsContainer
$ro = [int](($item.Attributes -band [IO.FileAttributes]::ReadOnly) -ne 0)
$len = 0
if (-not $item.PSIsContainer) { $len = $item.Length }
$mtime = [DateTimeOffset]::new($item.LastWriteTimeUtc).ToUnixTimeSeconds()
[Console]::Out.Write("milink-stat: $dir $ro $len $mtime")
