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
//!
//! # one or more: the Serverless Application Repository applications that
//! # deploy this function (applications/<name>/, see crate::applications)
//! [[package.metadata.rotation.application]]
//! name = "RustSecretsManagerRDSPostgreSQLRotationSingleUser"
//! replaces = "SecretsManagerRDSPostgreSQLRotationSingleUser"  # AWS's, if any
//! hosted-rotation-type = "PostgreSQLSingleUser"  # CloudFormation's, if any
//! strategy = "single"        # single | alternating | single-or-admin
//! description = "Rotates the password of an Amazon RDS or Aurora PostgreSQL user, by that user."
//! labels = ["postgresql", "rds", "aurora"]
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
    /// The package version (the applications' semantic version).
    pub version: String,
    /// The Serverless Application Repository applications that deploy it.
    pub applications: Vec<Application>,
}

/// Whose password an application's function changes, and with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The user changes its own password; no admin secret.
    Single,
    /// Alternating users, cloned and changed by an admin whose secret the
    /// stack is given (`masterSecretArn`), as AWS's multi-user applications.
    Alternating,
    /// The user itself, or an admin when a secret names one (`masterarn`),
    /// whose secret the stack may be given (`masterSecretArn`).
    SingleOrAdmin,
}

impl Strategy {
    /// Whether the application takes `masterSecretArn` and
    /// `masterSecretKmsKeyArn`.
    pub fn takes_master_secret(self) -> bool {
        !matches!(self, Strategy::Single)
    }
}

/// One application of `applications/`: a SAM template that deploys one
/// function with the parameters and output of AWS's application of the same
/// kind (see [`crate::applications`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Its name in the Serverless Application Repository (and its directory).
    pub name: String,
    /// The AWS application it replaces, e.g.
    /// `SecretsManagerRDSPostgreSQLRotationSingleUser`.
    pub replaces: Option<String>,
    /// The `RotationType` of CloudFormation's `HostedRotationLambda` that
    /// deploys the same AWS function, e.g. `PostgreSQLSingleUser`.
    pub hosted_rotation_type: Option<String>,
    /// Whose password it changes.
    pub strategy: Strategy,
    /// What it rotates, for the repository's listing.
    pub description: String,
    /// Search labels, beyond the ones every application has.
    pub labels: Vec<String>,
}

impl Application {
    /// The function's logical id in the template: the AWS application's
    /// name when it replaces one (as in AWS's template), else its own.
    pub fn function_logical_id(&self) -> &str {
        self.replaces.as_deref().unwrap_or(&self.name)
    }
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
    /// An application entry is unusable.
    #[error("{path}: [[package.metadata.rotation.application]] {index}: {problem}")]
    Application {
        /// The manifest.
        path: PathBuf,
        /// Its position (from 1).
        index: usize,
        /// What is wrong.
        problem: String,
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
    let rotation = rotation_table(&manifest);
    let environment = rotation
        .and_then(|r| r.get("environment"))
        .and_then(toml::Value::as_table)
        .map(|table| {
            table
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let applications = read_applications(&path, &manifest)?;
    Ok(FunctionCrate {
        version: field("package.version")?,
        applications,
        dir: dir.to_path_buf(),
        binary,
        resource: field("package.metadata.rotation.resource")?,
        title: field("package.metadata.rotation.title")?,
        description: field("package.metadata.rotation.description")?,
        test_server: field("package.metadata.rotation.test-server")?,
        environment,
        policy: rotation
            .and_then(|r| r.get("policy"))
            .and_then(toml::Value::as_str)
            .map(|text| text.trim_end().to_owned())
            .filter(|text| !text.is_empty()),
        package,
    })
}

/// The manifest's `[package.metadata.rotation]` table.
fn rotation_table(manifest: &toml::Table) -> Option<&toml::Value> {
    manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("rotation"))
}

fn read_applications(
    path: &Path,
    manifest: &toml::Table,
) -> Result<Vec<Application>, ManifestError> {
    let entries = rotation_table(manifest)
        .and_then(|r| r.get("application"))
        .and_then(toml::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut applications = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let problem = |problem: String| ManifestError::Application {
            path: path.to_path_buf(),
            index: i + 1,
            problem,
        };
        let text = |key: &str| {
            entry
                .get(key)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        };
        let required = |key: &str| {
            text(key).ok_or_else(|| problem(format!("`{key}` is missing or not a string")))
        };
        let name = required("name")?;
        if name.is_empty()
            || name.len() > 140
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(problem(format!(
                "name {name:?}: the Serverless Application Repository takes 1 to 140 letters, digits and hyphens"
            )));
        }
        let description = required("description")?;
        if description.len() > 256 {
            return Err(problem(format!(
                "description is {} characters: the Serverless Application Repository takes 256 at most",
                description.len()
            )));
        }
        let strategy = match required("strategy")?.as_str() {
            "single" => Strategy::Single,
            "alternating" => Strategy::Alternating,
            "single-or-admin" => Strategy::SingleOrAdmin,
            other => {
                return Err(problem(format!(
                    "strategy {other:?}: one of single, alternating, single-or-admin"
                )))
            }
        };
        let labels: Vec<String> = entry
            .get("labels")
            .and_then(toml::Value::as_array)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        applications.push(Application {
            name,
            replaces: text("replaces"),
            hosted_rotation_type: text("hosted-rotation-type"),
            strategy,
            description,
            labels,
        });
    }
    Ok(applications)
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
