DROP FUNCTION findash_rates(text, date);
DROP FUNCTION findash_spending_by_month(date, date, text, date);
DROP FUNCTION findash_month_flows(date, date, text, date);
DROP FUNCTION findash_account_balances(text, date);
