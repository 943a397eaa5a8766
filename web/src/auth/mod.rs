//! Authentication of API callers.

mod token;

pub use token::{Claims, JwtKeys, TokenError, mint, verify};
