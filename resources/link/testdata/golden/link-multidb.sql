EXEC sys.sp_multidb_milink
