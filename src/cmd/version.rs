//! `wavelb version`.

/// Prints the version.
pub fn run() {
    println!("wavelb {}", env!("CARGO_PKG_VERSION"));
}
