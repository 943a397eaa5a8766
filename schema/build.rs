//! Rebuilds the crate when a migration is added: `embed_migrations!` tracks the files it read,
//! not the directory, so a new migration would otherwise be missed until something else changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
