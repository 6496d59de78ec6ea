//! Finding the parts the local world needs, and small process helpers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// How to get every missing part: the project's test command installs them all.
pub const SETUP_HINT: &str = "run `scripts/test` (or `scripts/setup`) from the repository root: \
it installs PostgreSQL and MariaDB, creates the virtualenv with moto[server] and cargo-lambda, and builds the functions";

/// The repository root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The project's virtualenv: `$ROTATION_VENV`, or `~/.cache/rotation-functions/venv`.
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROTATION_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/rotation-functions/venv")
}

/// A program inside the virtualenv; panics with the set-up hint when missing.
pub fn venv_program(name: &str) -> PathBuf {
    let path = venv_dir().join("bin").join(name);
    assert!(path.exists(), "{} is missing: {SETUP_HINT}", path.display());
    path
}

/// The moto launcher script shipped in this crate.
pub fn launcher_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("launcher/moto_launcher.py")
}

/// The IAM and STS server (moto, its authentication errors in AWS's shape).
pub fn iam_server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("launcher/iam_server.py")
}

/// The runtime API proxy that gives invocations real deadlines.
pub fn runtime_proxy_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("launcher/runtime_proxy.py")
}

/// The directory holding the workspace's built binaries: `$ROTATION_BIN_DIR`,
/// or the directory of the running test or demo (cargo puts test executables in
/// `target/<profile>/deps` and binaries in `target/<profile>`).
pub fn binary_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROTATION_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the path of the running executable");
    let mut dir = exe
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The path of a function binary, e.g. `rotate-postgres`; panics with the
/// build command when it is missing.
pub fn function_binary(name: &str) -> PathBuf {
    let path = binary_dir().join(name);
    assert!(
        path.exists(),
        "function binary {} is missing: build it with `cargo build -p {name}` (or {SETUP_HINT})",
        path.display()
    );
    path
}

/// A random token for test-only passwords and file names (never a rotated
/// secret).
pub fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A free TCP port on 127.0.0.1 for a server a test starts, chosen at
/// random below Linux's ephemeral range (32768–60999). A port the kernel
/// picks (`bind(0)`) comes from that range, which every outgoing connection
/// also draws from: between choosing such a port and the server binding
/// it, any test's HTTP call could take it ("Address already in use").
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let random = uuid::Uuid::new_v4().as_u128();
        let port = 20_000 + (random % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port on 127.0.0.1");
    listener.local_addr().expect("the bound address").port()
}

/// Waits until something listens on `127.0.0.1:port`, or panics naming `what`
/// and pointing at its log.
pub fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path, timeout: Duration) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before listening on port {port}; its log:\n{}",
                read_tail(log)
            );
        }
        if start.elapsed() > timeout {
            panic!(
                "{what} did not listen on port {port} within {timeout:?}; its log:\n{}",
                read_tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The peak resident memory (VmHWM) of a running process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last 4 KiB of a log file, for failure messages.
pub fn read_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(4096);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

/// Spawns `command` with stdin closed and stdout and stderr appended to
/// `log`, guarded so it stops on drop, and waits until it listens on `port`.
pub fn spawn_listening(
    mut command: std::process::Command,
    what: &str,
    log: &Path,
    port: u16,
) -> Guard {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().expect("log handle"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}. {SETUP_HINT}"));
    let mut guard = Guard::new(what, child);
    wait_for_port(port, what, &mut guard.child, log, Duration::from_secs(60));
    guard
}

/// Retries `login` every 100 ms, up to 100 times, until it succeeds (a
/// server that just started); then panics with `what` and the tail of the
/// server's `log`. Returns what the successful login gave.
pub async fn wait_for_login<T, E, F>(what: &str, log: &Path, mut login: impl FnMut() -> F) -> T
where
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match login().await {
            Ok(value) => return value,
            Err(_) if attempt < 100 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{what}: {e}\n{}", read_tail(log)),
        }
    }
}

/// A child process that is stopped when dropped.
#[derive(Debug)]
pub struct Guard {
    /// What it is, for messages.
    pub name: String,
    /// The process.
    pub child: Child,
    /// Signal sent first (then SIGKILL after a grace period).
    pub stop_signal: nix::sys::signal::Signal,
}

impl Guard {
    /// Guards `child`, stopping it with SIGTERM.
    pub fn new(name: impl Into<String>, child: Child) -> Self {
        Self {
            name: name.into(),
            child,
            stop_signal: nix::sys::signal::Signal::SIGTERM,
        }
    }

    /// Stops the process: `stop_signal`, up to 5 s, then SIGKILL.
    pub fn stop(&mut self) {
        use nix::sys::signal::kill;
        use nix::unistd::Pid;
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, self.stop_signal);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}
