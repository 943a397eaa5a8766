DROP TRIGGER day_totals_truncate ON transactions;
DROP TRIGGER day_totals_delete ON transactions;
DROP TRIGGER day_totals_update ON transactions;
DROP TRIGGER day_totals_insert ON transactions;
DROP FUNCTION findash_day_totals_after_truncate();
DROP FUNCTION findash_day_totals_after_update();
DROP FUNCTION findash_day_totals_after_delete();
DROP FUNCTION findash_day_totals_after_insert();
DROP TABLE transaction_day_totals;
