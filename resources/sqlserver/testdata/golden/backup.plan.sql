BACKUP DATABASE [sales] TO DISK = N'/var/opt/mssql/backup/sales_<UTC yyyymmddThhmmssZ>.bak' WITH CHECKSUM, COMPRESSION, STATS = 10;
