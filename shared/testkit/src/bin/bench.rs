//! Benchmarks of the rotation functions on the local world: cold start,
//! rotation latency, the function's own CPU time, peak memory, package size
//! and Secrets Manager calls per rotation. Prints a table and writes the same
//! figures as JSON. Run it with `scripts/bench` (release build of the function).

use clap::Parser;
use serde_json::{json, Value};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::functions::function_crates;
use testkit::tools::{function_binary, venv_program, workspace_root};
use testkit::{TestServer, World};

#[derive(Parser, Debug)]
#[command(about = "Benchmark the rotation functions on the local world")]
struct Args {
    /// The functions to measure (binary names; default: every function in
    /// functions/).
    functions: Vec<String>,
    /// Cold starts measured per function.
    #[arg(long, default_value_t = 20)]
    starts: usize,
    /// Rotations through RotateSecret measured per function.
    #[arg(long, default_value_t = 50)]
    rotations: usize,
    /// Skip building the zipped deployment packages (slow: two release builds).
    #[arg(long)]
    skip_package: bool,
    /// Where to write the JSON figures.
    #[arg(long, default_value = "bench-results.json")]
    json: PathBuf,
    /// Measure what rotations cost the applications instead: clients log
    /// in in a loop while rotations run, per function and strategy
    /// (`testkit::downtime`).
    #[arg(long)]
    downtime: bool,
    /// Downtime: clients logging in concurrently.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Downtime: rotations under load per function and strategy.
    #[arg(long, default_value_t = 10)]
    load_rotations: usize,
}

/// Measures what `function`'s rotations cost the applications, per strategy
/// the server has.
async fn downtime_function<D: TestServer>(function: &str, args: &Args) -> Vec<Value> {
    use testkit::downtime::{prepare, run, LoadOptions, Strategy};
    let options = LoadOptions {
        clients: args.clients,
        rotations: args.load_rotations,
        ..LoadOptions::default()
    };
    let mut rows = Vec::new();
    for strategy in Strategy::ALL {
        let world = World::<D>::start(function).await;
        let Some(secret) = prepare(&world, strategy).await else {
            continue;
        };
        eprintln!(
            "[{function}] {}: {} rotations, {} clients",
            strategy.name(),
            options.rotations,
            options.clients
        );
        let report = run(&world, &secret, &options).await;
        let mut row = report.to_json();
        row["function"] = json!(function);
        row["strategy"] = json!(strategy.name());
        row["clients"] = json!(options.clients);
        println!(
            "| {function} | {} | {} | {} | {:.1} | {:.0} ms | {:.0} ms | {:.0} ms |",
            strategy.name(),
            report.attempts(),
            report.failed(),
            report.failed() as f64 / report.rotations.len().max(1) as f64,
            report.longest_outage().as_secs_f64() * 1000.0,
            report.mean_set_to_finish().as_secs_f64() * 1000.0,
            report.mean_rotation_time().as_secs_f64() * 1000.0,
        );
        rows.push(row);
    }
    rows
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    values
}

/// Exec of the binary to its first request for an event on the runtime API.
fn cold_start_ms(binary: &Path) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the function");
    let (mut stream, _) = listener.accept().expect("the function's first request");
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).expect("read the request");
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&request);
    assert!(
        text.contains("/runtime/invocation/next"),
        "the first request was not for an event: {text}"
    );
    elapsed
}

/// user + sys CPU seconds of a process, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/pid/stat");
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    ticks / hz
}

/// Builds the zipped deployment package with cargo-lambda; its size in bytes.
fn package_size(function: &str, arch_flag: &str) -> Result<u64, String> {
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    let out_dir = target_dir
        .join("lambda-bench")
        .join(arch_flag.trim_start_matches("--"));
    // cargo-lambda finds zig as `python3 -m ziglang`: the virtualenv's python.
    let cargo_lambda = venv_program("cargo-lambda");
    let venv_bin = cargo_lambda
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new(&cargo_lambda)
        .env("PATH", path)
        .args([
            "lambda",
            "build",
            "--release",
            arch_flag,
            "--output-format",
            "zip",
            "-p",
            function,
        ])
        .arg("--lambda-dir")
        .arg(&out_dir)
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("running cargo lambda build: {e}"))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: String = err
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" / ");
        return Err(format!("cargo lambda build {arch_flag} failed: {tail}"));
    }
    let zip = out_dir.join(function).join("bootstrap.zip");
    std::fs::metadata(&zip)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", zip.display()))
}

fn ratio(value: f64, target: f64) -> String {
    format!("{:.2}x of target", value / target)
}

/// Measures `function` rotating secrets of the server `D`.
async fn bench_function<D: TestServer>(function: &str, args: &Args) -> Value {
    let binary = function_binary(function);
    eprintln!("[{function}] cold start x{}", args.starts);
    let _ = cold_start_ms(&binary); // warm the page cache
    let starts = sorted((0..args.starts).map(|_| cold_start_ms(&binary)).collect());

    eprintln!("[{function}] rotations x{}", args.rotations);
    let world = World::<D>::start(function).await;
    world.db.create_user("bench_user", "bench-Password-0").await;
    let secret = world
        .create_secret("bench", &world.db_secret("bench_user", "bench-Password-0"))
        .await;
    world.rotate(&secret).await.expect("warm-up rotation");
    world.emulator.reset_calls().await;
    let pid = world.lambda.function_pid().expect("function pid");
    let cpu_before = cpu_seconds(pid);
    let mut latencies = Vec::new();
    for round in 0..args.rotations {
        let started = Instant::now();
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("rotation {round}: {e}"));
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000.0 / args.rotations as f64;
    let peak_kib = testkit::tools::peak_rss_kib(pid).unwrap_or(0);
    let calls = world.emulator.calls().await;
    let mut per_rotation = serde_json::Map::new();
    let mut function_calls = 0.0;
    if let Some(map) = calls["calls"].as_object() {
        for (action, count) in map {
            let n = count.as_f64().unwrap_or(0.0) / args.rotations as f64;
            if action != "RotateSecret" {
                function_calls += n;
            }
            per_rotation.insert(action.clone(), json!(n));
        }
    }
    let latencies = sorted(latencies);
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    let packages = if args.skip_package {
        json!({"x86_64": "skipped", "arm64": "skipped"})
    } else {
        eprintln!("[{function}] packages (cargo lambda build --release, x86_64 and arm64)");
        let x86 = package_size(function, "--x86-64");
        let arm = package_size(function, "--arm64");
        let show = |r: Result<u64, String>| match r {
            Ok(n) => json!(n),
            Err(e) => json!(format!("unavailable: {e}")),
        };
        json!({"x86_64": show(x86), "arm64": show(arm)})
    };
    json!({
        "function": function,
        "server": D::ENGINE,
        "cold_start_ms": {"median": percentile(&starts, 50.0), "max": starts.last(), "runs": starts.len()},
        "rotation_ms": {"median": percentile(&latencies, 50.0), "p95": percentile(&latencies, 95.0), "runs": latencies.len()},
        "function_cpu_ms_per_rotation": cpu_ms,
        "peak_rss_mib": peak_kib as f64 / 1024.0,
        "binary_bytes_stripped": size,
        "zip_bytes": packages,
        "secrets_manager_calls_per_rotation": {"by_action": per_rotation, "function_total": function_calls},
    })
}

fn print_table(result: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let name = result["function"].as_str().unwrap_or("?");
    let server = result["server"].as_str().unwrap_or("?");
    println!("\n{name} (against {server})");
    println!("| measure | value | target |");
    println!("|---|---|---|");
    let cold = &result["cold_start_ms"];
    println!(
        "| cold start (exec to first event request), median / max of {} | {:.1} / {:.1} ms | < 10 ms ({}) |",
        cold["runs"], f(&cold["median"]), f(&cold["max"]), ratio(f(&cold["median"]), 10.0)
    );
    let rot = &result["rotation_ms"];
    println!(
        "| RotateSecret round trip on the emulator, median / p95 of {} | {:.0} / {:.0} ms | - |",
        rot["runs"],
        f(&rot["median"]),
        f(&rot["p95"])
    );
    let cpu = f(&result["function_cpu_ms_per_rotation"]);
    println!(
        "| function CPU (user + sys) per rotation, verified TLS | {cpu:.1} ms | <= 10 ms ({}) |",
        ratio(cpu, 10.0)
    );
    let rss = f(&result["peak_rss_mib"]);
    println!(
        "| peak resident memory | {rss:.1} MiB | < 12 MB ({}) |",
        ratio(rss * 1.048_576, 12.0)
    );
    let binary_mb = f(&result["binary_bytes_stripped"]) / 1e6;
    println!(
        "| stripped release binary (x86_64) | {binary_mb:.2} MB | <= 5 MB ({}) |",
        ratio(binary_mb, 5.0)
    );
    for (arch, target) in [("x86_64", None), ("arm64", Some(2.5))] {
        let zip = &result["zip_bytes"][arch];
        let target_text = target.map_or("-".to_owned(), |t: f64| format!("<= {t} MB"));
        match (zip.as_f64(), target) {
            (Some(bytes), Some(t)) => println!(
                "| zipped package ({arch}) | {:.2} MB | {target_text} ({}) |",
                bytes / 1e6,
                ratio(bytes / 1e6, t)
            ),
            (Some(bytes), None) => println!(
                "| zipped package ({arch}) | {:.2} MB | {target_text} |",
                bytes / 1e6
            ),
            (None, _) => println!(
                "| zipped package ({arch}) | {} | {target_text} |",
                zip.as_str().unwrap_or("?")
            ),
        }
    }
    let calls = &result["secrets_manager_calls_per_rotation"];
    let total = f(&calls["function_total"]);
    let by: Vec<String> = calls["by_action"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {}", v)).collect())
        .unwrap_or_default();
    println!(
        "| Secrets Manager calls per rotation by the function | {total:.0} ({}) | <= 9 ({}) |",
        by.join(", "),
        ratio(total, 9.0)
    );
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut results = Vec::new();
    let functions = function_crates();
    for name in &args.functions {
        if !functions.iter().any(|f| &f.binary == name) {
            eprintln!("no function {name:?} in functions/");
            std::process::exit(2);
        }
    }
    if args.downtime {
        println!("| function | strategy | logins attempted | failed logins | failed per rotation | longest outage | setSecret to finishSecret (mean) | rotation time (mean) |");
        println!("|---|---|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        for function in functions
            .iter()
            .filter(|f| args.functions.is_empty() || args.functions.contains(&f.binary))
        {
            let binary = function.binary.as_str();
            match testkit::with_server!(
                function.test_server.as_str(),
                downtime_function(binary, &args)
            ) {
                Some(found) => rows.extend(found),
                None => {
                    eprintln!("{binary}: no test server {:?}", function.test_server);
                    std::process::exit(2);
                }
            }
        }
        std::fs::write(
            &args.json,
            serde_json::to_string_pretty(&json!({"downtime": rows})).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("writing {}: {e}", args.json.display()));
        println!("\nJSON: {}", args.json.display());
        return;
    }
    for function in functions
        .iter()
        .filter(|f| args.functions.is_empty() || args.functions.contains(&f.binary))
    {
        let binary = function.binary.as_str();
        let Some(result) =
            testkit::with_server!(function.test_server.as_str(), bench_function(binary, &args))
        else {
            eprintln!(
                "{binary}: its manifest names the test server {:?}, which the test kit does not have",
                function.test_server
            );
            std::process::exit(2);
        };
        print_table(&result);
        results.push(result);
    }
    let machine = json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "when_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs(),
    });
    let report = json!({"machine": machine, "functions": results});
    std::fs::write(
        &args.json,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("writing {}: {e}", args.json.display()));
    println!("\nJSON: {}", args.json.display());
}
