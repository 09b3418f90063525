-- Run on SQL Server
-- Shows the version and CU of SQL Server
SELECT @@VERSION

-- Shows if the Always On availability groups feature is enabled 
SELECT SERVERPROPERTY ('IsHadrEnabled')

-- Lists all trace flags enabled on SQL Server
DBCC TRACESTATUS
