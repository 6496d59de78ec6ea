//! The local Lambda service: `cargo lambda watch --only-lambda-apis` serves
//! the runtime and Invoke APIs, and the real function binary runs behind it.
//!
//! The function reaches the runtime API through `launcher/runtime_proxy.py`,
//! which gives each invocation a real deadline (now + the function's
//! timeout, 30 s unless a test sets another with
//! [`LocalLambda::set_timeout`]), as the service does: cargo lambda itself
//! sends the constant `600000`, which is no time at all.

use crate::tools::{
    free_port, read_tail, runtime_proxy_script, spawn_listening, venv_program, workspace_root,
    Guard,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A function's failure, as the Invoke API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeError {
    /// `errorType`.
    pub error_type: String,
    /// `errorMessage`.
    pub message: String,
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

/// What the runtime proxy recorded about one invocation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct InvocationRecord {
    /// The Lambda request id.
    pub request_id: String,
    /// The deadline the function was given (ms since the Unix epoch).
    pub deadline_ms: u64,
    /// When the function received the invocation.
    pub started_ms: u64,
    /// When it answered, if it has.
    pub answered_ms: Option<u64>,
    /// `response` or `error`, once it answered.
    pub answer: Option<String>,
}

/// The function's timeout when a test sets none: the template's.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 30.0;

/// The runtime API server and one function process.
pub struct LocalLambda {
    /// The function's name (its binary's name).
    pub name: String,
    /// The port of the Invoke API (cargo lambda).
    pub port: u16,
    /// The port of the runtime API proxy the function talks to.
    pub proxy_port: u16,
    /// The function's log (stdout and stderr).
    pub function_log: PathBuf,
    /// The runtime server's log.
    pub runtime_log: PathBuf,
    /// The runtime API proxy's log.
    pub proxy_log: PathBuf,
    binary: PathBuf,
    env: Vec<(String, String)>,
    function: Option<Guard>,
    extra_instances: Vec<Guard>,
    runtime: Guard,
    proxy: Guard,
}

impl LocalLambda {
    /// Starts the runtime API server only; [`LocalLambda::start_function`]
    /// starts the function.
    pub fn start_runtime(name: &str, binary: PathBuf, log_dir: &Path) -> Self {
        let cargo_lambda = venv_program("cargo-lambda");
        let port = free_port();
        let runtime_log = log_dir.join("cargo-lambda.log");
        let mut command = Command::new(cargo_lambda);
        command
            .args(["lambda", "watch", "--only-lambda-apis"])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .current_dir(workspace_root());
        let runtime = spawn_listening(command, "cargo lambda watch", &runtime_log, port);
        let proxy_port = free_port();
        let mut command = Command::new(venv_program("python"));
        command
            .arg(runtime_proxy_script())
            .args(["--port", &proxy_port.to_string()])
            .args(["--upstream", &format!("http://127.0.0.1:{port}")])
            .args(["--timeout-seconds", &DEFAULT_TIMEOUT_SECONDS.to_string()])
            .env("PYTHONUNBUFFERED", "1");
        let proxy_log = log_dir.join("runtime-proxy.log");
        let proxy = spawn_listening(command, "runtime API proxy", &proxy_log, proxy_port);
        Self {
            name: name.to_owned(),
            port,
            proxy_port,
            proxy_log,
            function_log: log_dir.join(format!("{name}.log")),
            runtime_log,
            binary,
            env: Vec::new(),
            function: None,
            extra_instances: Vec::new(),
            runtime,
            proxy,
        }
    }

    async fn proxy_control(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let url = format!("http://127.0.0.1:{}/_proxy/{path}", self.proxy_port);
        let http = reqwest::Client::new();
        let request = match body {
            Some(body) => http.post(&url).json(&body),
            None => http.get(&url),
        };
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("runtime proxy {path}: {e}"))
            .json()
            .await
            .expect("runtime proxy answer")
    }

    /// Sets the function's timeout for the invocations that start from now
    /// on: each gets the deadline now + `seconds`, as in the service.
    pub async fn set_timeout(&self, seconds: f64) {
        self.proxy_control(
            "config",
            Some(serde_json::json!({ "timeout_seconds": seconds })),
        )
        .await;
    }

    /// Every invocation the function has received, in order, with its
    /// deadline and when it answered.
    pub async fn invocations(&self) -> Vec<InvocationRecord> {
        serde_json::from_value(self.proxy_control("invocations", None).await)
            .expect("invocation records")
    }

    /// `http://127.0.0.1:<port>`, the base of the Invoke API.
    pub fn invoke_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment the runtime gives a function, plus `extra`.
    fn function_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), self.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION".to_owned(), "1".to_owned()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
                "128".to_owned(),
            ),
            (
                "AWS_LAMBDA_RUNTIME_API".to_owned(),
                format!("http://127.0.0.1:{}/.rt/{}", self.proxy_port, self.name),
            ),
        ];
        env.extend(self.env.iter().cloned());
        env
    }

    /// (Re)starts the function process with `env` on top of the runtime's
    /// variables; the rest of the caller's environment is not inherited.
    pub fn start_function(&mut self, env: Vec<(String, String)>) {
        self.stop_function();
        self.env = env;
        self.function = Some(self.spawn_instance());
    }

    fn spawn_instance(&self) -> Guard {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.function_log)
            .expect("function log");
        let child = Command::new(&self.binary)
            .env_clear()
            .envs(self.function_env())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        Guard::new(self.name.clone(), child)
    }

    /// Starts `count` more processes of the function on the same runtime
    /// API, as Lambda runs several instances under load; they stop with
    /// the function.
    pub fn start_more_instances(&mut self, count: usize) {
        for _ in 0..count {
            let guard = self.spawn_instance();
            self.extra_instances.push(guard);
        }
    }

    /// Whether the function's (first) process has exited.
    pub fn function_exited(&mut self) -> bool {
        match self.function.as_mut() {
            Some(guard) => !matches!(guard.child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Stops the function's processes (the runtime API keeps running).
    pub fn stop_function(&mut self) {
        if let Some(mut guard) = self.function.take() {
            guard.stop();
        }
        for mut guard in self.extra_instances.drain(..) {
            guard.stop();
        }
    }

    /// The pid of the function process.
    pub fn function_pid(&self) -> Option<u32> {
        self.function.as_ref().map(|g| g.child.id())
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
    ) -> Result<serde_json::Value, InvokeError> {
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.invoke_url(),
            self.name
        );
        let response = reqwest::Client::new()
            .post(&url)
            .json(event)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoking {url}: {e}\n{}", read_tail(&self.runtime_log)));
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(InvokeError {
                error_type: body["errorType"].as_str().unwrap_or("unknown").to_owned(),
                message: body["errorMessage"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| body.to_string()),
            })
        }
    }

    /// The function's log so far.
    pub fn function_log_text(&self) -> String {
        std::fs::read_to_string(&self.function_log).unwrap_or_default()
    }

    /// Whether the runtime server (and the proxy in front of it) is still
    /// running.
    pub fn runtime_is_running(&mut self) -> bool {
        matches!(self.runtime.child.try_wait(), Ok(None))
            && matches!(self.proxy.child.try_wait(), Ok(None))
    }
}
