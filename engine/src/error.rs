//! The engine's error type at its boundary.

use findash_schema::DbError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    #[error("Redis failed")]
    Redis(#[from] redis::RedisError),
    #[error("payload does not serialize")]
    Payload(#[source] serde_json::Error),
    #[error("unknown job kind `{0}`")]
    UnknownKind(String),
    #[error("invalid payload for `{kind}`: {message}")]
    InvalidPayload { kind: String, message: String },
    #[error("a background task failed")]
    Join(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Invalid(String),
}
