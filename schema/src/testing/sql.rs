//! One-value queries for test assertions. Alias the selected column as `n` (a count), `flag` (a
//! boolean) or `value` (text). The panicking forms name the SQL that failed.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

/// `SELECT count(*) AS n …`
pub fn try_count(conn: &mut PgConnection, sql: &str) -> QueryResult<i64> {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .map(|c| c.n)
}

/// `SELECT count(*) AS n …`
pub fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    try_count(conn, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `SELECT … AS flag`
pub fn flag(conn: &mut PgConnection, sql: &str) -> bool {
    diesel::sql_query(sql)
        .get_result::<Flag>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .flag
}

/// `SELECT … AS value` (one row)
pub fn try_text(conn: &mut PgConnection, sql: &str) -> QueryResult<String> {
    diesel::sql_query(sql)
        .get_result::<Value>(conn)
        .map(|v| v.value)
}

/// `SELECT … AS value` (one row)
pub fn text(conn: &mut PgConnection, sql: &str) -> String {
    try_text(conn, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `SELECT … AS value` (every row)
pub fn texts(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Value>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|v| v.value)
        .collect()
}
