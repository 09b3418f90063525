SELECT name FROM master.sys.certificates WHERE name LIKE N'milink[_]check[_]%';
