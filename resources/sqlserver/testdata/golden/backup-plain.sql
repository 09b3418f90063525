BACKUP DATABASE [sales] TO DISK = N'/var/opt/mssql/backup/sales_20260301T120000Z.bak' WITH STATS = 10;
