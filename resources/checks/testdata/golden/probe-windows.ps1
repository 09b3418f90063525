$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
if (Test-NetConnection -ComputerName 'mi01.abc123.database.windows.net' -Port 5022 -InformationLevel Quiet -WarningAction SilentlyContinue) { 'True' } else { 'False' }
