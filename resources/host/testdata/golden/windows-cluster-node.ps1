$ErrorActionPreference = 'Stop'
$svc = Get-Service -Name 'ClusSvc' -ErrorAction SilentlyContinue
if ($svc -and $svc.Status -eq 'Running') { 'True' } else { 'False' }
