//! The demo: starts the local world, creates a database secret (PostgreSQL,
//! or MariaDB with `--engine mysql`), rotates it through `RotateSecret` and
//! shows the versions and the login check before and after. No part of any
//! password is printed.

use clap::{Parser, ValueEnum};
use std::collections::BTreeMap;
use std::time::Instant;
use testkit::mariadb::EphemeralMariaDb;
use testkit::postgres::EphemeralPostgres;
use testkit::{TestDatabase, World};

/// Which function and server the demo runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Engine {
    /// rotate-postgres against PostgreSQL (TLS, scram-sha-256).
    Postgres,
    /// rotate-mysql against MariaDB (TLS, password authentication).
    Mysql,
}

#[derive(Parser, Debug)]
#[command(about = "Rotate a secret on the local world and show what changed")]
struct Args {
    /// The engine to demonstrate.
    #[arg(long, value_enum, default_value = "postgres")]
    engine: Engine,
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

async fn show<D: TestDatabase>(
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
    match Args::parse().engine {
        Engine::Postgres => demo::<EphemeralPostgres>("rotate-postgres", "PostgreSQL").await,
        Engine::Mysql => demo::<EphemeralMariaDb>("rotate-mysql", "MariaDB").await,
    }
}

async fn demo<D: TestDatabase>(function: &str, server: &str) {
    println!("Starting the local world: {server} (TLS, password authentication), the Secrets Manager emulator, {function} behind the Lambda runtime…");
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
    let new_password = value["password"].as_str().unwrap_or_default().to_owned();
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
    let ok = world.db.can_login(user, &new_password).await
        && !world.db.can_login(user, old_password).await;
    if !ok {
        eprintln!("\nUNEXPECTED: the login check after rotation is wrong");
        std::process::exit(1);
    }
    println!("\nOK: the new password logs in, the old one is refused, AWSCURRENT moved, AWSPREVIOUS kept, no AWSPENDING left.");
}
