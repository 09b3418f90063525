$ErrorActionPreference = 'Stop'
$svc = Get-Service -Name 'MSSQL$SALES''01'
$dependents = @($svc.DependentServices | Where-Object { $_.Status -eq 'Running' })
Restart-Service -InputObject $svc -Force
foreach ($d in $dependents) { Start-Service -InputObject $d }
