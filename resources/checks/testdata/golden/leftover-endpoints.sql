SELECT name FROM sys.endpoints WHERE name LIKE N'milink[_]check[_]%';
