DROP TABLE fx_rates;
DROP TABLE transactions;
DROP TABLE categorization_rules;
DROP TABLE categories;
DROP TABLE accounts;
DROP TABLE provider_connections;
