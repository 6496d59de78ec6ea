//! IAM and STS for `rotate-iam-keys`: a second moto server, apart from the
//! Secrets Manager emulator, with request signatures checked, so a wrong
//! secret access key really fails (moto's `INITIAL_NO_AUTH_ACTION_COUNT`,
//! switched on through its `/moto-api/reset-auth` call once the two users
//! the world needs exist).
//!
//! - The function signs its IAM calls as the IAM user `rotation-function`,
//!   whose inline policy allows exactly the four access-key actions the
//!   template's role allows (moto checks the actions; it does not scope
//!   them to a user path).
//! - The kit's own calls are signed as `testkit-admin`.
//! - moto's authentication errors are answered in IAM's and STS's own
//!   shape (`launcher/iam_server.py`), so the SDK reads their codes.
//! - A "login" is STS `GetCallerIdentity` signed with the key, answering
//!   with the user's ARN, and the key being `Active`: moto accepts the
//!   signature of an inactive key, AWS does not, so the status is read too.
//!
//! The suite names credentials by password. An access key's secret is made
//! by IAM, never chosen, so the password the suite gives
//! [`TestServer::create_user`] becomes a name for the key made then: the
//! kit maps it to that key and back. Keys the function makes are named by
//! their secret access key itself.

use crate::certs::TestCa;
use crate::server::{
    with_field, without_field, BadSecret, LoginRecord, OldPassword, ServerOptions, TestServer,
};
use crate::tools::{free_port, iam_server_script, read_tail, spawn_listening, venv_program, Guard};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The IAM user the function signs as.
pub const FUNCTION_USER: &str = "rotation-function";
/// The actions the function's user may call (the template's role's).
pub const FUNCTION_ACTIONS: &[&str] = &[
    "iam:CreateAccessKey",
    "iam:ListAccessKeys",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
];
const ADMIN_USER: &str = "testkit-admin";

/// The scenarios that need something IAM is not, and why.
const NOT_APPLICABLE: &[(&str, &str)] = &[
    ("set_secret_recovers_when_the_database_holds_the_previous_password", "nothing is set in setSecret (a key is live once created), and nobody can put a chosen key on a user"),
    ("password_policy_environment_variables_take_effect", "IAM makes the secret access key; the password policy variables do not apply"),
    ("failures_say_which_credential_failed_and_why", "the function signs in with its own role, never with the secret's current key; a pending key that fails testSecret is rotate-iam-keys' own test"),
    ("rotate_immediately_false_only_tests_the_configuration", "testSecret of a key the suite's initial values name is rotate-iam-keys' own test (the suite's values are made by IAM, not by the suite)"),
    ("a_step_out_of_time_says_so_before_the_deadline", "no step waits on a server that can be made to hang; testSecret's wait for a new key is bounded by the deadline and rotate-iam-keys' own test"),
    ("trusted_authorities_follow_the_settings", "the function opens no TLS connection of its own: AWS endpoints are verified by the SDK"),
    ("database_stops_during_set_secret", "IAM is a managed service: there is no server to stop, and nothing is set in setSecret"),
    ("database_stops_during_test_secret", "IAM is a managed service: there is no server to stop (moto keeps nothing across a restart)"),
    ("function_killed_after_the_database_accepted_the_password", "nothing is set in setSecret; a function killed after CreateAccessKey is rotate-iam-keys' own test"),
    ("stale_pending_is_recovered_by_the_documented_procedure", "there is no server whose outage leaves AWSPENDING behind"),
    ("a_server_without_tls_is_refused", "the function connects to no server of the secret's"),
    ("a_certificate_for_another_host_is_refused", "the function connects to no server of the secret's"),
];

/// An access key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The access key id.
    pub id: String,
    /// The secret access key.
    pub secret: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({}, [REDACTED])", self.id)
    }
}

/// IAM and STS for one test.
pub struct IamAccount {
    /// `http://127.0.0.1:<port>`, IAM's and STS's endpoint.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// moto's log.
    pub log: PathBuf,
    /// The key the function signs with.
    pub function_key: KeyPair,
    admin: aws_sdk_iam::Client,
    /// The suite's name for a key (the password it gave) → the key.
    named: Mutex<HashMap<String, KeyPair>>,
    ca_file: PathBuf,
    guard: Guard,
    _dir: tempfile::TempDir,
}

fn iam_client(url: &str, key: &KeyPair) -> aws_sdk_iam::Client {
    crate::local_client!(aws_sdk_iam, url, &key.id, &key.secret)
}

fn sts_client(url: &str, key: &KeyPair) -> aws_sdk_sts::Client {
    crate::local_client!(aws_sdk_sts, url, &key.id, &key.secret)
}

async fn new_key(iam: &aws_sdk_iam::Client, user: &str) -> KeyPair {
    let out = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateAccessKey {user}: {}",
                aws_sdk_iam::error::DisplayErrorContext(e)
            )
        });
    let key = out.access_key().expect("a key");
    KeyPair {
        id: key.access_key_id().to_owned(),
        secret: key.secret_access_key().to_owned(),
    }
}

async fn new_user(iam: &aws_sdk_iam::Client, user: &str, actions: &[&str]) -> KeyPair {
    iam.create_user()
        .user_name(user)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateUser {user}: {}",
                aws_sdk_iam::error::DisplayErrorContext(e)
            )
        });
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    });
    iam.put_user_policy()
        .user_name(user)
        .policy_name("testkit")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PutUserPolicy {user}: {}",
                aws_sdk_iam::error::DisplayErrorContext(e)
            )
        });
    new_key(iam, user).await
}

impl IamAccount {
    /// Starts moto, makes the function's and the kit's users, then turns
    /// signature and permission checks on.
    pub async fn start(ca: &TestCa) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rotation-iam-")
            .tempdir()
            .expect("a temporary directory");
        let ca_file = ca.write_ca(dir.path());
        let log = dir.path().join("iam.log");
        let port = free_port();
        let mut command = Command::new(venv_program("python"));
        command
            .arg(iam_server_script())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1");
        let guard = spawn_listening(command, "moto server (IAM, STS)", &log, port);
        let url = format!("http://127.0.0.1:{port}");
        // Checks are off until reset-auth: these calls need no valid key.
        let setup = iam_client(
            &url,
            &KeyPair {
                id: "testing".into(),
                secret: "testing".into(),
            },
        );
        let function_key = new_user(&setup, FUNCTION_USER, FUNCTION_ACTIONS).await;
        let admin_key = new_user(&setup, ADMIN_USER, &["iam:*"]).await;
        let answer = reqwest::Client::new()
            .post(format!("{url}/moto-api/reset-auth"))
            .body("0")
            .send()
            .await
            .and_then(|r| r.error_for_status());
        if let Err(e) = answer {
            panic!(
                "turning moto's signature checks on: {e}\n{}",
                read_tail(&log)
            );
        }
        let admin = iam_client(&url, &admin_key);
        Self {
            url,
            port,
            log,
            function_key,
            admin,
            named: Mutex::default(),
            ca_file,
            guard,
            _dir: dir,
        }
    }

    /// An IAM client signed as the kit's admin user.
    pub fn admin(&self) -> &aws_sdk_iam::Client {
        &self.admin
    }

    /// The user's keys: id and whether it is active, oldest first.
    pub async fn keys(&self, user: &str) -> Vec<(String, bool)> {
        self.try_keys(user).await.unwrap_or_else(|e| {
            panic!(
                "ListAccessKeys {user}: {}",
                aws_sdk_iam::error::DisplayErrorContext(e)
            )
        })
    }

    /// The user's keys as [`IamAccount::keys`] gives them, or IAM's error
    /// (e.g. no such user).
    async fn try_keys(
        &self,
        user: &str,
    ) -> Result<
        Vec<(String, bool)>,
        aws_sdk_iam::error::SdkError<aws_sdk_iam::operation::list_access_keys::ListAccessKeysError>,
    > {
        let out = self.admin.list_access_keys().user_name(user).send().await?;
        let mut keys: Vec<_> = out
            .access_key_metadata()
            .iter()
            .map(|k| {
                (
                    k.create_date().copied(),
                    k.access_key_id().unwrap_or_default().to_owned(),
                    k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
                )
            })
            .collect();
        keys.sort_by_key(|a| a.0);
        Ok(keys
            .into_iter()
            .map(|(_, id, active)| (id, active))
            .collect())
    }

    /// Creates a key for `user` (as a person would, outside any rotation).
    pub async fn create_key(&self, user: &str) -> KeyPair {
        new_key(&self.admin, user).await
    }

    /// Sets a key's status.
    pub async fn set_active(&self, user: &str, key: &str, active: bool) {
        use aws_sdk_iam::types::StatusType;
        self.admin
            .update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(if active {
                StatusType::Active
            } else {
                StatusType::Inactive
            })
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "UpdateAccessKey {key}: {}",
                    aws_sdk_iam::error::DisplayErrorContext(e)
                )
            });
    }

    /// The key the suite's `password` names: a key [`TestServer::create_user`]
    /// made under that name, or (for a key the function made) the user's
    /// key whose secret it is.
    async fn key_of(&self, user: &str, password: &str) -> Option<KeyPair> {
        if let Some(key) = self.named.lock().expect("the names").get(password) {
            return Some(key.clone());
        }
        for (id, _) in self.try_keys(user).await.unwrap_or_default() {
            let key = KeyPair {
                id,
                secret: password.to_owned(),
            };
            if self.identity(&key).await.is_some() {
                return Some(key);
            }
        }
        None
    }

    /// The ARN STS answers for `key`, when its signature is accepted.
    pub async fn identity(&self, key: &KeyPair) -> Option<String> {
        sts_client(&self.url, key)
            .get_caller_identity()
            .send()
            .await
            .ok()
            .and_then(|out| out.arn().map(str::to_owned))
    }

    /// Whether `key` works as AWS would take it: STS accepts its signature
    /// and answers with `user`'s ARN, and the key is active.
    pub async fn key_works(&self, user: &str, key: &KeyPair) -> bool {
        let Some(arn) = self.identity(key).await else {
            return false;
        };
        arn.ends_with(&format!(":user/{user}"))
            && self
                .try_keys(user)
                .await
                .unwrap_or_default()
                .iter()
                .any(|(id, active)| *id == key.id && *active)
    }
}

impl TestServer for IamAccount {
    const ENGINE: &'static str = "iam-keys";
    const FOREIGN_ENGINE: &'static str = "postgres";
    /// IAM user names are `[\w+=,.@-]`: every punctuation IAM allows.
    const AWKWARD_USERNAMES: &'static [&'static str] = &["o.brien+ci=eu,test@example_1-2"];
    const OLD_PASSWORD: OldPassword = OldPassword::KeptUntilNextRotation;
    const HOLDS_THE_CREDENTIAL: bool = false;

    async fn start(ca: &TestCa, _options: &ServerOptions) -> Self {
        IamAccount::start(ca).await
    }
    async fn restart(&mut self) {
        panic!("IAM is not restarted: moto keeps nothing across a restart (the stop scenarios are not applicable)")
    }
    fn host(&self) -> &str {
        "127.0.0.1"
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn ca_file(&self) -> &Path {
        &self.ca_file
    }
    fn log_files(&self) -> Vec<&Path> {
        vec![&self.log]
    }
    fn function_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL_IAM".into(), self.url.clone()),
            ("AWS_ENDPOINT_URL_STS".into(), self.url.clone()),
            ("AWS_ACCESS_KEY_ID".into(), self.function_key.id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.function_key.secret.clone(),
            ),
        ]
    }
    fn secret(&self, username: &str, password: &str) -> Value {
        let key = self
            .named
            .lock()
            .expect("the names")
            .get(password)
            .cloned()
            // Not a key the kit made: a key id that does not exist.
            .unwrap_or_else(|| KeyPair {
                id: "AKIAUNKNOWNKEY000000".into(),
                secret: password.to_owned(),
            });
        json!({
            "UserName": username,
            "AccessKeyId": key.id,
            "SecretAccessKey": key.secret,
        })
    }
    fn password_in(&self, value: &Value) -> String {
        let secret = value["SecretAccessKey"]
            .as_str()
            .or_else(|| value["aws_secret_access_key"].as_str())
            .expect("a secret access key")
            .to_owned();
        let named = self.named.lock().expect("the names");
        named
            .iter()
            .find(|(_, key)| key.secret == secret)
            .map(|(name, _)| name.clone())
            .unwrap_or(secret)
    }
    fn user_in(&self, value: &Value) -> String {
        value["UserName"].as_str().unwrap_or_default().to_owned()
    }
    fn assert_new_password(&self, new: &str, _function: &crate::Function) {
        // IAM's (and moto's) secret access keys: 40 characters of base64.
        assert_eq!(new.len(), 40, "a secret access key is 40 characters");
    }
    async fn create_user(&self, name: &str, password: &str) {
        if self.admin.get_user().user_name(name).send().await.is_err() {
            self.admin
                .create_user()
                .user_name(name)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "CreateUser {name}: {}",
                        aws_sdk_iam::error::DisplayErrorContext(e)
                    )
                });
        }
        let key = new_key(&self.admin, name).await;
        self.named
            .lock()
            .expect("the names")
            .insert(password.to_owned(), key);
    }
    async fn set_password(&self, _name: &str, _password: &str) {
        panic!("IAM makes access keys: nobody sets a chosen one (HOLDS_THE_CREDENTIAL is false)");
    }
    async fn can_login(&self, user: &str, password: &str) -> bool {
        match self.key_of(user, password).await {
            Some(key) => self.key_works(user, &key).await,
            None => false,
        }
    }
    async fn admin_works(&self) -> bool {
        self.admin.list_users().send().await.is_ok()
    }
    fn logged_in(&self, _user: &str) -> LoginRecord {
        LoginRecord::NotRecorded("moto keeps no record of the keys that signed requests")
    }
    fn not_applicable(scenario: &str) -> Option<&'static str> {
        crate::server::reason_in(NOT_APPLICABLE, scenario)
    }
    fn bad_secrets(&self, good: &Value, password: &str) -> Vec<BadSecret> {
        vec![
            BadSecret::new(
                "invalid-json",
                Value::String(format!("{{\"SecretAccessKey\": \"{password}\", oops")),
                "not a valid JSON object",
            ),
            BadSecret::new(
                "no-user",
                without_field(good, "UserName"),
                "field `UserName` is missing",
            ),
            BadSecret::new(
                "no-key-id",
                without_field(good, "AccessKeyId"),
                "field `AccessKeyId` is missing",
            ),
            BadSecret::new(
                "no-secret-key",
                without_field(good, "SecretAccessKey"),
                "field `SecretAccessKey` is missing",
            ),
            BadSecret::new(
                "two-namings",
                with_field(good, "aws_access_key_id", json!("AKIAOTHER")),
                "one key pair",
            ),
            BadSecret::new(
                "user-not-a-string",
                with_field(good, "UserName", json!(7)),
                "field `UserName` must be a string",
            ),
        ]
    }
    fn hostile_secrets(&self, good: &Value, password: &str) -> Vec<BadSecret> {
        vec![
            BadSecret::new(
                "nul-user",
                with_field(good, "UserName", json!("victim\u{0}")),
                "field `UserName` contains a NUL",
            ),
            BadSecret::new(
                "nul-secret-key",
                with_field(good, "SecretAccessKey", json!(format!("{password}\u{0}"))),
                "field `SecretAccessKey` contains a NUL",
            ),
            BadSecret::new(
                "huge-user",
                with_field(good, "UserName", json!("v".repeat(100_000))),
                "field `UserName` is 100000 bytes",
            ),
            BadSecret::new(
                "huge-secret-key",
                with_field(good, "SecretAccessKey", json!("s".repeat(5000))),
                "field `SecretAccessKey` is 5000 bytes",
            ),
            BadSecret::new(
                "path-in-user",
                with_field(good, "UserName", json!("../admin")),
                "field `UserName` is not an IAM user name",
            ),
            BadSecret::new(
                "query-in-key-id",
                with_field(good, "AccessKeyId", json!("AKIA DeleteUser ../x")),
                "field `AccessKeyId` is not an access key id",
            ),
            BadSecret::new(
                "object-secret-key",
                with_field(good, "SecretAccessKey", json!({"nested": password})),
                "field `SecretAccessKey` must be a string",
            ),
            BadSecret::new(
                "not-an-object",
                json!([password]),
                "not a valid JSON object",
            ),
        ]
    }
    fn broken_secret(&self, user: &str, password: &str) -> Value {
        with_field(
            &self.secret(user, password),
            "UserName",
            json!("not a user!"),
        )
    }
    fn warning_secret(&self, user: &str, password: &str) -> (Value, &'static str) {
        // A session token kept beside a user's key: warned at each rotation.
        let mut value = self.secret(user, password);
        value["SessionToken"] = json!("a-token-from-another-time");
        (value, "belongs to no IAM user's key")
    }
    fn stop(&mut self) {
        self.guard.stop();
    }
}
