use thiserror::Error;

/// Errors of the data layer. Query errors keep Diesel's type so callers can match on
/// constraint violations; everything else says what the operator has to do. The wrapped errors
/// are part of the message, not a `source()`, so an error chain prints each cause once.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(diesel::ConnectionError),
    #[error("no database connection available: {0}")]
    Pool(diesel::r2d2::PoolError),
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

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::Query(e)
    }
}

impl From<diesel::ConnectionError> for DbError {
    fn from(e: diesel::ConnectionError) -> Self {
        DbError::Connect(e)
    }
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Pool(e)
    }
}
