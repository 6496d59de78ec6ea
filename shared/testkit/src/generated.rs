//! The "server" of generated secrets (`rotate-generated`): their consumers.
//! Nothing outside Secrets Manager holds a generated value; an application
//! reads `AWSCURRENT` and, during the overlap, still accepts `AWSPREVIOUS`.
//! So a user "logs in" with a password when a secret naming that user holds
//! it under `AWSCURRENT` or `AWSPREVIOUS`, read from the world's emulator.
//!
//! The conformance scenarios about a server (stopping it, its TLS, a
//! password changed behind the function's back) are declared not
//! applicable, each with its reason.

use crate::certs::TestCa;
use crate::emulator::Emulator;
use crate::server::{
    with_field, without_field, BadSecret, LoginRecord, OldPassword, ServerOptions, TestServer,
    SQL_AWKWARD_USERNAMES,
};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The stand-in for the consumers of generated secrets.
pub struct Consumers {
    client: Option<aws_sdk_secretsmanager::Client>,
    index: Mutex<Index>,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// The scenarios that need a server holding the credential, and why.
const NOT_APPLICABLE: &[(&str, &str)] = &[
    ("set_secret_recovers_when_the_database_holds_the_previous_password", "no server holds the value: there is nothing to recover"),
    ("failures_say_which_credential_failed_and_why", "the function logs in nowhere: no credential can fail to log in"),
    ("rotate_immediately_false_only_tests_the_configuration", "the suite's initial values do not match their description (16 characters where 32 are described); rotate-generated's own tests cover RotateImmediately=false"),
    ("a_step_out_of_time_says_so_before_the_deadline", "no step waits on anything but Secrets Manager"),
    ("trusted_authorities_follow_the_settings", "the function opens no TLS connection of its own"),
    ("database_stops_during_set_secret", "there is no server to stop"),
    ("database_stops_during_test_secret", "there is no server to stop"),
    ("function_killed_after_the_database_accepted_the_password", "no server accepts the value in setSecret; a step killed and run again is each_step_run_twice_gives_the_same_end_state"),
    ("stale_pending_is_recovered_by_the_documented_procedure", "there is no server whose outage leaves AWSPENDING behind"),
    ("a_server_without_tls_is_refused", "the function connects to no server"),
    ("a_certificate_for_another_host_is_refused", "the function connects to no server"),
];

/// Which secrets name which user.
#[derive(Default)]
struct Index {
    seen: HashSet<String>,
    by_user: HashMap<String, Vec<String>>,
}

impl Consumers {
    fn client(&self) -> &aws_sdk_secretsmanager::Client {
        self.client
            .as_ref()
            .expect("the world attaches the emulator before any test runs")
    }

    /// The JSON value of `arn` under `stage` (`Null` when there is none or
    /// it is not JSON).
    async fn value(&self, arn: &str, stage: &str) -> Value {
        match self
            .client()
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(out) => out
                .secret_string()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
            Err(_) => Value::Null,
        }
    }

    /// The secrets naming `user`: every secret is read once, when first
    /// seen, and indexed by its `username` (which rotations keep).
    async fn secrets_of(&self, user: &str) -> Vec<String> {
        let mut next: Option<String> = None;
        let mut unseen = Vec::new();
        loop {
            let page = self
                .client()
                .list_secrets()
                .max_results(100)
                .set_next_token(next.take())
                .send()
                .await
                .expect("ListSecrets on the emulator");
            {
                let index = self.index.lock().expect("the index");
                unseen.extend(
                    page.secret_list()
                        .iter()
                        .filter_map(|entry| entry.arn())
                        .filter(|arn| !index.seen.contains(*arn))
                        .map(str::to_owned),
                );
            }
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => break,
            }
        }
        for arn in unseen {
            let username = self.value(&arn, "AWSCURRENT").await["username"]
                .as_str()
                .map(str::to_owned);
            let mut index = self.index.lock().expect("the index");
            if index.seen.insert(arn.clone()) {
                if let Some(username) = username {
                    index.by_user.entry(username).or_default().push(arn);
                }
            }
        }
        let index = self.index.lock().expect("the index");
        index.by_user.get(user).cloned().unwrap_or_default()
    }

    /// Whether a secret naming `user` holds `password` under `AWSCURRENT`
    /// or `AWSPREVIOUS`.
    async fn accepts(&self, user: &str, password: &str) -> bool {
        for arn in self.secrets_of(user).await {
            for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
                let value = self.value(&arn, stage).await;
                if value["username"] == json!(user) && value["password"] == json!(password) {
                    return true;
                }
            }
        }
        false
    }

    /// The description the suite's secrets carry: `password` is a password
    /// under the function's policy.
    fn description() -> Value {
        json!({"password": "password"})
    }
}

impl TestServer for Consumers {
    const ENGINE: &'static str = "generated";
    const FOREIGN_ENGINE: &'static str = "postgres";
    const AWKWARD_USERNAMES: &'static [&'static str] = SQL_AWKWARD_USERNAMES;
    const OLD_PASSWORD: OldPassword = OldPassword::KeptUntilNextRotation;
    const HOLDS_THE_CREDENTIAL: bool = false;

    async fn start(ca: &TestCa, _options: &ServerOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rotation-consumers-")
            .tempdir()
            .expect("a temporary directory");
        let ca_file = ca.write_ca(dir.path());
        Self {
            client: None,
            index: Mutex::default(),
            ca_file,
            _dir: dir,
        }
    }
    async fn restart(&mut self) {}
    fn host(&self) -> &str {
        "127.0.0.1"
    }
    fn port(&self) -> u16 {
        443
    }
    fn ca_file(&self) -> &Path {
        &self.ca_file
    }
    fn log_files(&self) -> Vec<&Path> {
        Vec::new()
    }
    fn secret(&self, username: &str, password: &str) -> Value {
        json!({
            "engine": Self::ENGINE,
            "username": username,
            "password": password,
            "rotation": Self::description(),
        })
    }
    async fn create_user(&self, _name: &str, _password: &str) {
        // A consumer knows a user once a secret names it.
    }
    async fn set_password(&self, _name: &str, _password: &str) {
        panic!("generated secrets: no server holds the password (HOLDS_THE_CREDENTIAL is false)");
    }
    async fn can_login(&self, user: &str, password: &str) -> bool {
        self.accepts(user, password).await
    }
    async fn admin_works(&self) -> bool {
        true
    }
    fn logged_in(&self, _user: &str) -> LoginRecord {
        LoginRecord::NotRecorded("the consumers of generated secrets read them; nothing logs in")
    }
    fn attach_emulator(&mut self, emulator: &Emulator) {
        self.client = Some(emulator.client());
    }
    fn not_applicable(scenario: &str) -> Option<&'static str> {
        crate::server::reason_in(NOT_APPLICABLE, scenario)
    }
    fn bad_secrets(&self, good: &Value, _password: &str) -> Vec<BadSecret> {
        let entry = |entry: Value| with_field(good, "rotation", json!({"password": entry}));
        vec![
            BadSecret::new(
                "no-rotation",
                without_field(good, "rotation"),
                "field `rotation` is missing",
            ),
            BadSecret::new(
                "unknown-type",
                entry(json!("rsa")),
                "field `rotation.password` is \"rsa\", not a known type",
            ),
            BadSecret::new(
                "zero-length",
                entry(json!({"type": "password", "length": 0})),
                "field `rotation.password.length` must be a whole number",
            ),
            BadSecret::new(
                "unknown-encoding",
                entry(json!({"type": "bytes", "encoding": "base32"})),
                "field `rotation.password.encoding` is \"base32\"",
            ),
            BadSecret::new(
                "misspelt-option",
                entry(json!({"type": "bytes", "lenght": 16})),
                "field `rotation.password.lenght` is not an option of type bytes",
            ),
            BadSecret::new(
                "nothing-described",
                with_field(good, "rotation", json!({})),
                "field `rotation` names no field",
            ),
            BadSecret::new("json-array", json!([good]), "not a valid JSON object"),
        ]
    }
    fn hostile_secrets(&self, good: &Value, password: &str) -> Vec<BadSecret> {
        let rotation = |description: Value| with_field(good, "rotation", description);
        vec![
            BadSecret::new(
                "huge-length",
                rotation(json!({"password": {"type": "bytes", "length": 1_000_000_000_000u64}})),
                "field `rotation.password.length`",
            ),
            BadSecret::new(
                "negative-length",
                rotation(json!({"password": {"type": "password", "length": -1}})),
                "field `rotation.password.length`",
            ),
            BadSecret::new(
                "nul-prefix",
                rotation(json!({"password": {"type": "bytes", "prefix": "k\u{0}"}})),
                "field `rotation.password.prefix` contains a NUL",
            ),
            BadSecret::new(
                "huge-prefix",
                rotation(json!({"password": {"type": "bytes", "prefix": "p".repeat(5000)}})),
                "field `rotation.password.prefix` is 5000 bytes",
            ),
            BadSecret::new(
                "overwrites-itself",
                rotation(json!({"rotation": "uuid"})),
                "would overwrite the `rotation` description itself",
            ),
            BadSecret::new(
                "type-not-a-string",
                rotation(json!({"password": {"type": {"type": "password"}}})),
                "field `rotation.password.type` must be a string",
            ),
            BadSecret::new(
                "one-field-twice",
                rotation(
                    json!({"password": "uuid", "key": {"type": "ssh-ed25519", "public_key_field": "password"}}),
                ),
                "writes field `password`",
            ),
            BadSecret::new(
                "description-not-an-object",
                rotation(json!(["password"])),
                "field `rotation` must be an object",
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
            "rotation",
            json!({"password": {"type": "password", "length": 0}}),
        )
    }
    fn warning_secret(&self, user: &str, password: &str) -> (Value, &'static str) {
        let mut description = Self::description();
        description["pin"] = json!({"type": "bytes", "length": 4, "encoding": "hex"});
        (
            with_field(&self.secret(user, password), "rotation", description),
            "bits of randomness",
        )
    }
    fn stop(&mut self) {}
}
