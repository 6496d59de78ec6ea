//! The Secrets Manager emulator: moto server behind the project's launcher,
//! which forwards rotation invocations to the function's Invoke endpoint.

use crate::tools::{free_port, launcher_script, read_tail, spawn_listening, venv_program, Guard};
use aws_sdk_secretsmanager::Client;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The account moto uses.
pub const ACCOUNT: &str = "123456789012";
/// The region the local world uses.
pub const REGION: &str = "us-east-1";

/// Whether the process on `port` is the launcher: its control call
/// `GET /_launcher/calls` answers with the launcher's JSON.
fn answers_as_the_launcher(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let request = format!("GET /_launcher/calls HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains("put_rotation_tokens")
}

/// An SDK client of the service crate `$sdk` (e.g. `aws_sdk_iam`) for the
/// local endpoint `$url`, signing with the key `$id`/`$secret`, in the
/// world's region, over the one shared HTTP client. The caller depends on
/// `$sdk` and on `rotation`.
///
/// ```ignore
/// let iam = testkit::local_client!(aws_sdk_iam, &url, "AKIA…", "secret");
/// ```
#[macro_export]
macro_rules! local_client {
    ($sdk:ident, $url:expr, $id:expr, $secret:expr) => {{
        let config = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .http_client(::rotation::aws::http_client())
            .region($sdk::config::Region::new($crate::emulator::REGION))
            .credentials_provider($sdk::config::Credentials::new(
                $id, $secret, None, None, "testkit",
            ))
            .endpoint_url($url)
            .build();
        $sdk::Client::from_conf(config)
    }};
}

/// A running emulator, stopped on drop.
pub struct Emulator {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its log.
    pub log: PathBuf,
    guard: Guard,
}

impl Emulator {
    /// Starts the launcher; rotations and Lambda `Invoke` calls are
    /// forwarded to `invoke_url`, and each invoked function's output
    /// (`log_dir/{name}.log`) is copied to CloudWatch Logs.
    ///
    /// A free port can be taken by another test's server between choosing
    /// it and the launcher binding it; then something else answers on it.
    /// So the launcher must answer its own control call, and on another
    /// port up to three times.
    pub fn start(invoke_url: &str, log_dir: &Path) -> Self {
        let log = log_dir.join("emulator.log");
        for _attempt in 0..3 {
            let port = free_port();
            let mut command = Command::new(venv_program("python"));
            command
                .arg(launcher_script())
                .args(["--port", &port.to_string(), "--invoke-url", invoke_url])
                .arg("--log-dir")
                .arg(log_dir)
                .env("PYTHONUNBUFFERED", "1");
            let mut guard = spawn_listening(command, "moto launcher", &log, port);
            if answers_as_the_launcher(port) && matches!(guard.child.try_wait(), Ok(None)) {
                return Self {
                    port,
                    url: format!("http://127.0.0.1:{port}"),
                    log,
                    guard,
                };
            }
            guard.stop();
        }
        panic!(
            "the moto launcher did not answer on its port in three attempts; its log:\n{}",
            read_tail(&log)
        );
    }

    /// Whether the emulator process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.guard.child.try_wait(), Ok(None))
    }

    /// An SDK client for the emulator (static test credentials).
    pub fn client(&self) -> Client {
        crate::local_client!(aws_sdk_secretsmanager, &self.url, "testing", "testing")
    }

    /// An RDS SDK client for the emulator (moto serves every API on one port).
    pub fn rds_client(&self) -> aws_sdk_rds::Client {
        crate::local_client!(aws_sdk_rds, &self.url, "testing", "testing")
    }

    /// An ElastiCache SDK client for the emulator.
    pub fn elasticache_client(&self) -> aws_sdk_elasticache::Client {
        crate::local_client!(aws_sdk_elasticache, &self.url, "testing", "testing")
    }

    /// Every ElastiCache user the emulator holds, by id: `status`,
    /// `user_name`, `passwords` (the launcher's view, for assertions).
    pub async fn elasticache_users(&self) -> serde_json::Value {
        self.control("elasticache-users", None).await
    }

    /// How many `DescribeUsers` calls a user modified by `ModifyUser` stays
    /// `modifying` before it is `active` again (default 1).
    pub async fn set_modifying_describes(&self, count: usize) {
        self.control(
            "config",
            Some(serde_json::json!({ "modifying_describes": count })),
        )
        .await;
    }

    async fn control(&self, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let http = reqwest::Client::new();
        let url = format!("{}/_launcher/{path}", self.url);
        let request = match body {
            Some(body) => http.post(&url).json(&body),
            None => http.get(&url),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("emulator control {path}: {e}\n{}", read_tail(&self.log)));
        response.json().await.expect("emulator control answer")
    }

    /// Sets the steps `RotateSecret` invokes (`[]`: only stage AWSPENDING).
    pub async fn set_rotation_steps(&self, steps: &[&str]) {
        self.control("config", Some(serde_json::json!({ "steps": steps })))
            .await;
    }

    /// Whether `RotateSecret` answers at once and runs the steps in the
    /// background, as the service does (`true`), or runs them inside the
    /// call and fails with the failing step's error (`false`, the default).
    pub async fn set_async_rotation(&self, on: bool) {
        self.control("config", Some(serde_json::json!({ "async_rotation": on })))
            .await;
    }

    /// Serves invocations of the function `name` (e.g. the name a stack gave
    /// it) by the local function `local` (a binary's name).
    pub async fn alias_function(&self, name: &str, local: &str) {
        self.control(
            "config",
            Some(serde_json::json!({ "function_aliases": { name: local } })),
        )
        .await;
    }

    /// Secrets Manager calls counted by action since the last reset, and the
    /// rotation tokens seen on `PutSecretValue`.
    pub async fn calls(&self) -> serde_json::Value {
        self.control("calls", None).await
    }

    /// Zeroes the call counters.
    pub async fn reset_calls(&self) {
        self.control("reset", Some(serde_json::json!({}))).await;
    }

    /// Makes the next `count` Secrets Manager calls other than `RotateSecret`
    /// fail: `kind` is `"500"` (InternalServiceError) or `"throttle"`
    /// (ThrottlingException).
    pub async fn inject_faults(&self, count: usize, kind: &str) {
        let answer = self
            .control(
                "faults",
                Some(serde_json::json!({ "count": count, "kind": kind })),
            )
            .await;
        assert!(answer.get("error").is_none(), "inject_faults: {answer}");
    }
}
