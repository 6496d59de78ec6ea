//! The functions of the workspace, discovered from `functions/*/Cargo.toml`:
//! one source for the scripts, the demo, the bench, the template generator
//! and the tests, so that adding a function directory is all it takes for
//! each of them to know it.
//!
//! Each function's manifest says what the rest of the project needs in a
//! `[package.metadata.rotation]` table:
//!
//! ```toml
//! [package.metadata.rotation]
//! resource = "Postgres"        # template.yaml names: PostgresRotationFunction, …
//! title = "PostgreSQL"         # for people: descriptions, the demo
//! description = "Rotates PostgreSQL secrets (postgres, aurora-postgresql), single or alternating users."
//! test-server = "postgres"     # the testkit server the demo and the bench use
//!
//! # optional: one more item of the role's `Policies` (YAML, indented by
//! # the generator), for a function that calls another AWS API
//! policy = """
//! - PolicyName: describe-things
//!   PolicyDocument: …
//! """
//!
//! [package.metadata.rotation.environment]   # optional: extra variables
//! USERNAME_CHARACTER_LIMIT = "!Ref UsernameCharacterLimit"
//! ```

use crate::tools::workspace_root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One crate in `functions/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCrate {
    /// Its directory.
    pub dir: PathBuf,
    /// The package name.
    pub package: String,
    /// The binary name (`[[bin]]`, else the package name).
    pub binary: String,
    /// The prefix of its resources in template.yaml.
    pub resource: String,
    /// What it rotates, for people (e.g. "PostgreSQL").
    pub title: String,
    /// The function's description in template.yaml.
    pub description: String,
    /// The testkit server (see [`crate::servers`]) its demo and bench use.
    pub test_server: String,
    /// Environment variables beyond the template's globals (values are
    /// YAML, e.g. `!Ref SomeParameter`).
    pub environment: BTreeMap<String, String>,
    /// One more item of the role's `Policies` list (YAML starting with
    /// `- `), when the function calls another AWS API.
    pub policy: Option<String>,
}

/// Why a function's manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is not valid TOML.
    #[error("{path}: not valid TOML: {source}")]
    Toml {
        /// The manifest.
        path: PathBuf,
        /// The parse error.
        source: toml::de::Error,
    },
    /// A field is missing or of the wrong type.
    #[error("{path}: `{field}` is missing or not a string: every function's manifest needs it (see shared/testkit/src/functions.rs)")]
    Field {
        /// The manifest.
        path: PathBuf,
        /// The field, e.g. `package.metadata.rotation.resource`.
        field: &'static str,
    },
}

/// Reads one function crate's manifest.
pub fn read_function(dir: &Path) -> Result<FunctionCrate, ManifestError> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
        path: path.clone(),
        source,
    })?;
    let manifest: toml::Table = text.parse().map_err(|source| ManifestError::Toml {
        path: path.clone(),
        source,
    })?;
    let field = |field: &'static str| -> Result<String, ManifestError> {
        let mut value: Option<&toml::Value> = None;
        for (i, key) in field.split('.').enumerate() {
            value = if i == 0 {
                manifest.get(key)
            } else {
                value.and_then(|v| v.get(key))
            };
        }
        value
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ManifestError::Field {
                path: path.clone(),
                field,
            })
    };
    let package = field("package.name")?;
    let binary = manifest
        .get("bin")
        .and_then(toml::Value::as_array)
        .and_then(|bins| bins.first())
        .and_then(|bin| bin.get("name"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| package.clone());
    let environment = manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("rotation"))
        .and_then(|r| r.get("environment"))
        .and_then(toml::Value::as_table)
        .map(|table| {
            table
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(FunctionCrate {
        dir: dir.to_path_buf(),
        binary,
        resource: field("package.metadata.rotation.resource")?,
        title: field("package.metadata.rotation.title")?,
        description: field("package.metadata.rotation.description")?,
        test_server: field("package.metadata.rotation.test-server")?,
        environment,
        policy: manifest
            .get("package")
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("rotation"))
            .and_then(|r| r.get("policy"))
            .and_then(toml::Value::as_str)
            .map(|text| text.trim_end().to_owned())
            .filter(|text| !text.is_empty()),
        package,
    })
}

/// Every crate in `<root>/functions/`, sorted by package name.
pub fn function_crates_in(root: &Path) -> Result<Vec<FunctionCrate>, ManifestError> {
    let functions = root.join("functions");
    let entries = std::fs::read_dir(&functions).map_err(|source| ManifestError::Read {
        path: functions.clone(),
        source,
    })?;
    let mut crates = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if dir.join("Cargo.toml").exists() {
            crates.push(read_function(&dir)?);
        }
    }
    crates.sort_by(|a, b| a.package.cmp(&b.package));
    Ok(crates)
}

/// Every crate in this workspace's `functions/`; panics with the reason
/// when a manifest is unreadable (for tests and tools).
pub fn function_crates() -> Vec<FunctionCrate> {
    function_crates_in(&workspace_root()).unwrap_or_else(|e| panic!("{e}"))
}
