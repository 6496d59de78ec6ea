//! End-to-end tests live in `tests/`; this library holds what several of
//! them read about the repository.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repository_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
}

/// One crate in `functions/`: its directory and the names its manifest gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCrate {
    /// Its directory.
    pub dir: PathBuf,
    /// The package name.
    pub package: String,
    /// The binary name (`[[bin]]`, else the package name).
    pub binary: String,
}

/// Every crate in `functions/`, sorted by package name.
pub fn function_crates() -> Vec<FunctionCrate> {
    let mut crates = Vec::new();
    let functions = repository_root().join("functions");
    for entry in std::fs::read_dir(&functions).expect("functions/") {
        let dir = entry.expect("entry").path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{}: no Cargo.toml: {e}", dir.display()));
        let name_in = |text: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with("name"))
                .and_then(|line| line.split('"').nth(1))
                .map(str::to_owned)
        };
        let package =
            name_in(&manifest).unwrap_or_else(|| panic!("{}: no package name", dir.display()));
        let binary = manifest
            .split("[[bin]]")
            .nth(1)
            .and_then(name_in)
            .unwrap_or_else(|| package.clone());
        crates.push(FunctionCrate {
            dir,
            package,
            binary,
        });
    }
    crates.sort_by(|a, b| a.package.cmp(&b.package));
    crates
}
