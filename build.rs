//! No build step: this script exists so that the `[build-dependencies]` in Cargo.toml
//! count. They pin features of crates that other build scripts use (see there), so that
//! a build with the `substrait` feature reuses the default build's artifacts.

fn main() {
    // Without this, any file of the package changing would run the script again and
    // rebuild the crate.
    println!("cargo:rerun-if-changed=build.rs");
}
