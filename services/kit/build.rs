//! Rebuild when a migration is added or changed: `sqlx::migrate!` embeds
//! `migrations/<service>/` into the binaries.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
