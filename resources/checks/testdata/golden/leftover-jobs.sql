SELECT name FROM msdb.dbo.sysjobs WHERE name LIKE N'milink[_]check[_]%';
