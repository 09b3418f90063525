SET NOCOUNT ON;
SELECT name, certificate_id, thumbprint, expiry_date, pvt_key_encryption_type, subject FROM master.sys.certificates;
