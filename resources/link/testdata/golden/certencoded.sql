SELECT CERTENCODED(CERT_ID(N'Cert_it''s]_endpoint'));
