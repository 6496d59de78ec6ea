//! End-to-end tests live in `tests/`; this library holds what several of
//! them read about the repository.

use std::path::Path;

/// The repository root.
pub fn repository_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
}

pub use testkit::functions::{function_crates, FunctionCrate};
