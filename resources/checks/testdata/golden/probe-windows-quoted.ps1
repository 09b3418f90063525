$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
if (Test-NetConnection -ComputerName 'it''s $(odd)' -Port 11000 -InformationLevel Quiet -WarningAction SilentlyContinue) { 'True' } else { 'False' }
