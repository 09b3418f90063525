SELECT d.name AS tde_database, d.is_encrypted, k.encryption_state, k.encryptor_type,
    c.name AS certificate_name, c.certificate_id, c.subject, c.expiry_date, c.thumbprint, c.pvt_key_encryption_type_desc
FROM sys.databases AS d
LEFT JOIN sys.dm_database_encryption_keys AS k ON k.database_id = d.database_id
LEFT JOIN master.sys.certificates AS c ON c.thumbprint = k.encryptor_thumbprint
WHERE d.database_id > 4
ORDER BY d.name;
