//! The whole local world for one test: an ephemeral server of the backend
//! (any [`TestServer`]), the Secrets Manager emulator, and the function
//! binary behind the local Lambda runtime.

use crate::certs::TestCa;
use crate::emulator::{Emulator, ACCOUNT, REGION};
use crate::lambda::LocalLambda;
use crate::mariadb::EphemeralMariaDb;
use crate::postgres::EphemeralPostgres;
use crate::server::{ServerOptions, TestServer};
use crate::tools::function_binary;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::Client;
use serde_json::Value;
use std::collections::BTreeMap;

/// A world with PostgreSQL.
pub type PostgresWorld = World<EphemeralPostgres>;
/// A world with MariaDB.
pub type MariaDbWorld = World<EphemeralMariaDb>;
/// A world with Redis.
pub type RedisWorld = World<crate::redis::EphemeralRedis>;
/// A world with OpenLDAP.
pub type LdapWorld = World<crate::ldap::EphemeralLdap>;
/// A world with IAM and STS (a second moto, signatures checked).
pub type IamKeysWorld = World<crate::iam_keys::IamAccount>;
/// A world for generated secrets (their consumers stand in for a server).
pub type GeneratedWorld = World<crate::generated::Consumers>;

/// Everything a rotation test runs against. Dropping it stops every process
/// and deletes every file.
pub struct World<D: TestServer> {
    /// The backend's server (a database, a cache, a directory).
    pub db: D,
    /// The Lambda runtime and the function.
    pub lambda: LocalLambda,
    /// The Secrets Manager emulator.
    pub emulator: Emulator,
    /// An SDK client for the emulator.
    pub sm: Client,
    /// The CA that signed the server's certificate.
    pub ca: TestCa,
    /// The Lambda function's name (in its ARN): the binary's, unless the
    /// world was started with [`World::start_as`].
    pub function_name: String,
    dir: tempfile::TempDir,
}

impl<D: TestServer> World<D> {
    /// Starts the world for `function` (a binary name, e.g. `rotate-postgres`,
    /// or a [`crate::Function`]).
    pub async fn start(function: impl AsRef<str>) -> Self {
        Self::start_with_env(function, &[]).await
    }

    /// Starts the world, giving the function `env` on top of the defaults
    /// (emulator endpoint, region, test credentials, the test CA).
    pub async fn start_with_env(function: impl AsRef<str>, env: &[(&str, &str)]) -> Self {
        Self::start_with_server(function, env, &ServerOptions::default()).await
    }

    /// Starts the world with a server made as `options` say (e.g. without
    /// TLS), giving the function `env` on top of the defaults.
    pub async fn start_with_server(
        function: impl AsRef<str>,
        env: &[(&str, &str)],
        options: &ServerOptions,
    ) -> Self {
        let function = function.as_ref();
        Self::start_as(function, function, env, options).await
    }

    /// Starts the world with the binary of `function` running as the
    /// Lambda function `name` (its name in the function's ARN and in
    /// `AWS_LAMBDA_FUNCTION_NAME`, e.g. the one a stack gave it), giving the
    /// function `env` on top of the defaults.
    pub async fn start_as(
        function: impl AsRef<str>,
        name: &str,
        env: &[(&str, &str)],
        options: &ServerOptions,
    ) -> Self {
        let function = function.as_ref();
        let dir = tempfile::Builder::new()
            .prefix("rotation-world-")
            .tempdir()
            .expect("a temporary directory");
        let ca = TestCa::new();
        let binary = function_binary(function);
        let lambda = LocalLambda::start_runtime(function, binary, dir.path());
        let invoke_url = lambda.invoke_url();
        let log_dir = dir.path().to_path_buf();
        let emulator = tokio::task::spawn_blocking(move || Emulator::start(&invoke_url, &log_dir));
        let db = D::start(&ca, options).await;
        let mut db = db;
        let emulator = emulator.await.expect("starting the emulator");
        if name != function {
            emulator.alias_function(name, function).await;
        }
        db.attach_emulator(&emulator);
        let sm = emulator.client();
        let mut world = Self {
            db,
            lambda,
            emulator,
            sm,
            ca,
            function_name: name.to_owned(),
            dir,
        };
        world.restart_function(env);
        world
    }

    /// The environment every function gets in the local world, with the
    /// server's own ([`TestServer::function_env`]) last.
    pub fn base_env(&self) -> Vec<(String, String)> {
        let mut env = self.world_env();
        for (key, value) in self.db.function_env() {
            env.retain(|(k, _)| *k != key);
            env.push((key, value));
        }
        env
    }

    fn world_env(&self) -> Vec<(String, String)> {
        vec![
            ("SECRETS_MANAGER_ENDPOINT".into(), self.emulator.url.clone()),
            // RDS lookups of RDS-managed admin secrets go to the emulator too.
            ("AWS_ENDPOINT_URL_RDS".into(), self.emulator.url.clone()),
            // ElastiCache users (rotate-redis) too.
            (
                "AWS_ENDPOINT_URL_ELASTICACHE".into(),
                self.emulator.url.clone(),
            ),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            (
                "TLS_EXTRA_CA_FILE".into(),
                self.db.ca_file().display().to_string(),
            ),
        ]
    }

    /// Restarts the function with the base environment plus `env` (a later
    /// entry wins; an empty value unsets the variable).
    pub fn restart_function(&mut self, env: &[(&str, &str)]) {
        let mut all = self.base_env();
        if self.function_name != self.lambda.name {
            all.push((
                "AWS_LAMBDA_FUNCTION_NAME".into(),
                self.function_name.clone(),
            ));
        }
        for (key, value) in env {
            all.retain(|(k, _)| k != key);
            if !value.is_empty() {
                all.push((key.to_string(), value.to_string()));
            }
        }
        self.lambda.start_function(all);
    }

    /// The function's ARN as the emulator's launcher understands it.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
            self.function_name
        )
    }

    /// A secret value for `username`/`password` on the test server.
    pub fn db_secret(&self, username: &str, password: &str) -> Value {
        self.db.secret(username, password)
    }

    /// Creates the database user `user` with `password` and a secret named
    /// `secret_name` holding that credential; returns the secret's ARN.
    pub async fn user_with_secret(&self, secret_name: &str, user: &str, password: &str) -> String {
        self.db.create_user(user, password).await;
        self.create_secret(secret_name, &self.db_secret(user, password))
            .await
    }

    /// Creates a secret holding `value` (serialised JSON, or the string as-is).
    pub async fn create_secret(&self, name: &str, value: &Value) -> String {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.sm
            .create_secret()
            .name(name)
            .secret_string(text)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateSecret {name}: {}", DisplayErrorContext(e)))
            .arn()
            .expect("ARN")
            .to_owned()
    }

    /// `RotateSecret` with this world's function: the emulator runs the four
    /// steps through the function; `Err` carries the service's message.
    pub async fn rotate(&self, secret_id: &str) -> Result<(), String> {
        self.rotate_with(secret_id, &self.function_arn()).await
    }

    /// `RotateSecret` with the function `rotation_lambda_arn` (e.g. a
    /// stack's output naming this world's function).
    pub async fn rotate_with(
        &self,
        secret_id: &str,
        rotation_lambda_arn: &str,
    ) -> Result<(), String> {
        self.sm
            .rotate_secret()
            .secret_id(secret_id)
            .rotation_lambda_arn(rotation_lambda_arn)
            .rotation_rules(
                RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(e).to_string())
    }

    /// Every labelled version and its labels (sorted).
    pub async fn stages(&self, secret_id: &str) -> BTreeMap<String, Vec<String>> {
        let out = self
            .sm
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeSecret: {}", DisplayErrorContext(e)));
        out.version_ids_to_stages()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, stages)| !stages.is_empty())
            .map(|(id, mut stages)| {
                stages.sort();
                (id, stages)
            })
            .collect()
    }

    /// The version carrying `stage`.
    pub async fn version_with(&self, secret_id: &str, stage: &str) -> Option<String> {
        self.stages(secret_id)
            .await
            .into_iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id)
    }

    /// The raw value of a version (by id) or of a stage, if it has one.
    pub async fn raw_value(
        &self,
        secret_id: &str,
        version: Option<&str>,
        stage: Option<&str>,
    ) -> Option<String> {
        self.sm
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version.map(str::to_owned))
            .set_version_stage(stage.map(str::to_owned))
            .send()
            .await
            .ok()
            .and_then(|out| out.secret_string().map(str::to_owned))
    }

    /// The JSON value under `stage`.
    pub async fn value(&self, secret_id: &str, stage: &str) -> Value {
        let raw = self
            .raw_value(secret_id, None, Some(stage))
            .await
            .unwrap_or_else(|| panic!("no value under {stage}"));
        serde_json::from_str(&raw).expect("a JSON secret")
    }

    /// The function's, the runtime's, the emulator's and the database's logs.
    pub fn all_logs(&self) -> String {
        let mut text = String::new();
        let mut paths = vec![
            self.lambda.function_log.as_path(),
            self.lambda.runtime_log.as_path(),
            self.lambda.proxy_log.as_path(),
            self.emulator.log.as_path(),
        ];
        paths.extend(self.db.log_files());
        for path in paths {
            text.push_str(&format!("===== {}\n", path.display()));
            text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        text
    }

    /// The directory holding this world's logs.
    pub fn log_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
