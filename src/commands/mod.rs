//! One module per subcommand. Each prints what it did on stdout; diagnostics go to the log
//! (stderr).

pub mod check_config;
pub mod migrate;
pub mod seed;
pub mod token;
pub mod up;

use anyhow::Context as _;
use findash_schema::{Db, migrations};

use crate::config::Config;

/// The application pool, on a database that has every migration of this build. Every role that
/// serves or works starts here, so none runs against a database that is behind.
pub fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db =
        Db::connect(&config.database).context("cannot open the application's connection pool")?;
    let mut conn = db.conn()?;
    migrations::ensure_current(&mut conn)?;
    Ok(db)
}
