USE [master];
SELECT CERTENCODED(CERT_ID(N'TDECert')) AS certificate, CERTPRIVATEKEY(CERT_ID(N'TDECert'), (sensitive), (sensitive)) AS private_key;
