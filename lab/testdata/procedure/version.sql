-- Run on SQL Server
-- Shows the version and CU of the SQL Server
SELECT @@VERSION
