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
$bytes = [IO.File]::ReadAllBytes($path)
[Console]::Out.Write('milink-read:' + [Convert]::ToBase64String($bytes))
