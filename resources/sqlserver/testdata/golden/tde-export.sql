USE [master];
SELECT CERTENCODED(CERT_ID(N'TDECert')) AS certificate, CERTPRIVATEKEY(CERT_ID(N'TDECert'), (sensitive)) AS private_key;
