//! The demo: starts the local world for one function (rotate-postgres by
//! default; `--function rotate-mysql`, or `--engine mysql`, for another),
//! creates a secret, rotates it through `RotateSecret` and shows the versions
//! and the login check before and after. The functions and their servers
//! are discovered from `functions/*/Cargo.toml`. No part of any password is
//! printed.

use clap::Parser;
use std::collections::BTreeMap;
use std::time::Instant;
use testkit::functions::{function_crates, FunctionCrate};
use testkit::server::OldPassword;
use testkit::{TestServer, World};

#[derive(Parser, Debug)]
#[command(about = "Rotate a secret on the local world and show what changed")]
struct Args {
    /// The function to demonstrate (a binary in functions/, e.g. rotate-mysql).
    #[arg(long, default_value = "rotate-postgres")]
    function: String,
    /// The same, by the last part of its name (`--engine mysql`).
    #[arg(long)]
    engine: Option<String>,
}

fn fingerprint(password: &str) -> String {
    // The length only: the demo prints no part of any password.
    format!("({} chars)", password.chars().count())
}

fn show_versions(stages: &BTreeMap<String, Vec<String>>) {
    for (version, labels) in stages {
        println!("    version {version}  {}", labels.join(", "));
    }
}

async fn show<D: TestServer>(
    world: &World<D>,
    secret: &str,
    user: &str,
    passwords: &[(&str, &str)],
) {
    println!("  versions:");
    show_versions(&world.stages(secret).await);
    println!("  login check (verified TLS):");
    for (label, password) in passwords {
        let ok = world.db.can_login(user, password).await;
        println!(
            "    {label:<9} password {:<22} {}",
            fingerprint(password),
            if ok { "logs in" } else { "refused" }
        );
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let wanted = match &args.engine {
        Some(engine) => format!("rotate-{engine}"),
        None => args.function.clone(),
    };
    let functions = function_crates();
    let Some(function) = functions.iter().find(|f| f.binary == wanted) else {
        let known: Vec<&str> = functions.iter().map(|f| f.binary.as_str()).collect();
        eprintln!(
            "no function {wanted:?}: the functions are {}",
            known.join(", ")
        );
        std::process::exit(2);
    };
    let server = function.test_server.as_str();
    if testkit::with_server!(server, demo(function)).is_none() {
        eprintln!(
            "{}: its manifest names the test server {server:?}, which the test kit does not have (shared/testkit/src/servers.rs)",
            function.binary
        );
        std::process::exit(2);
    }
}

async fn demo<D: TestServer>(function: &FunctionCrate) {
    let server = &function.title;
    let function = function.binary.as_str();
    println!("Starting the local world: a {server} server ({} family, TLS, password authentication), the Secrets Manager emulator, {function} behind the Lambda runtime…", D::ENGINE);
    let started = Instant::now();
    let world = World::<D>::start(function).await;
    println!(
        "  ready in {:.1} s: {server} on 127.0.0.1:{}, emulator at {}, Lambda runtime at {}",
        started.elapsed().as_secs_f64(),
        world.db.port(),
        world.emulator.url,
        world.lambda.invoke_url()
    );

    let user = "app_user";
    let old_password = "demo-Initial-Password-1";
    world.db.create_user(user, old_password).await;
    let secret = world
        .create_secret("demo/app-db", &world.db_secret(user, old_password))
        .await;
    println!("\nCreated secret {secret}");
    println!("\nBefore rotation:");
    show(&world, &secret, user, &[("current", old_password)]).await;

    println!("\nRotateSecret (createSecret, setSecret, testSecret, finishSecret)…");
    let rotation = Instant::now();
    if let Err(error) = world.rotate(&secret).await {
        eprintln!("rotation failed: {error}");
        eprintln!("function log:\n{}", world.lambda.function_log_text());
        std::process::exit(1);
    }
    println!(
        "  done in {:.0} ms",
        rotation.elapsed().as_secs_f64() * 1000.0
    );
    if let Some(peak) = world
        .lambda
        .function_pid()
        .and_then(testkit::tools::peak_rss_kib)
    {
        println!(
            "  function process peak memory: {:.1} MiB",
            peak as f64 / 1024.0
        );
    }

    let value = world.value(&secret, "AWSCURRENT").await;
    let new_password = world.db.password_in(&value);
    println!("\nAfter rotation:");
    show(
        &world,
        &secret,
        user,
        &[("current", &new_password), ("previous", old_password)],
    )
    .await;

    println!("\nThe function's log (one JSON line per step, no secret in it):");
    for line in world.lambda.function_log_text().lines() {
        println!("  {line}");
    }
    let old_works = world.db.can_login(user, old_password).await;
    let (ok, old) = match D::OLD_PASSWORD {
        OldPassword::Refused => (!old_works, "the old one is refused"),
        OldPassword::KeptUntilNextRotation => {
            (old_works, "the old one works until the next rotation")
        }
    };
    if !(ok && world.db.can_login(user, &new_password).await) {
        eprintln!("\nUNEXPECTED: the login check after rotation is wrong");
        std::process::exit(1);
    }
    println!("\nOK: the new password logs in, {old}, AWSCURRENT moved, AWSPREVIOUS kept, no AWSPENDING left.");
}
