use thiserror::Error;

/// Errors of the data layer. Query errors keep Diesel's type so callers can match on
/// constraint violations; everything else says what the operator has to do.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(
        "the database is behind this build: {} pending migration(s): {}. Run `findash migrate` first.",
        pending.len(),
        pending.join(", ")
    )]
    SchemaBehind { pending: Vec<String> },
    #[error("a tenant or system scope must be the outermost transaction on its connection")]
    NestedScope,
    #[error("this scope needs a connection acting as {expected}; use the matching pool of `Db`")]
    WrongRole { expected: &'static str },
    #[error("{0}")]
    Invalid(String),
}
