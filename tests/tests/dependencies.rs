//! Every function binary, and rotation-ctl, links one TLS stack: one rustls, one crypto
//! provider (ring, never aws-lc), one hyper, one rand. Read from
//! `cargo tree -e normal` (what the binary links, not what tests use), so a
//! dependency that brings a second stack fails here with its path.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    e2e::repository_root()
}

/// Every function package.
fn function_packages() -> Vec<String> {
    e2e::function_crates()
        .into_iter()
        .map(|c| c.package)
        .collect()
}

/// Crate name -> the versions the package links.
fn linked_versions(package: &str) -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root())
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "-p", package])
        .output()
        .expect("running cargo tree");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(version)) = (parts.next(), parts.next()) else {
            continue;
        };
        let entry = versions.entry(name.to_owned()).or_default();
        if !entry.iter().any(|v| v == version) {
            entry.push(version.to_owned());
        }
    }
    versions
}

#[test]
fn every_function_and_the_operators_tool_link_one_tls_stack() {
    let mut packages = function_packages();
    assert!(packages.len() >= 2, "{packages:?}");
    packages.push("rotation-ctl".to_owned());
    for package in packages {
        let versions = linked_versions(&package);
        for single in ["rustls", "hyper", "ring", "rand", "rustls-webpki", "h2"] {
            let found = versions.get(single).cloned().unwrap_or_default();
            assert!(
                found.len() <= 1,
                "{package} links {single} {found:?}: find who brings the second with \
                 `cargo tree -e normal -p {package} -i {single}@<version>`"
            );
        }
        for absent in [
            "aws-lc-rs",
            "aws-lc-sys",
            "openssl",
            "openssl-sys",
            "native-tls",
        ] {
            assert!(
                !versions.contains_key(absent),
                "{package} links {absent}: every TLS connection uses rustls with ring"
            );
        }
        assert!(
            versions.contains_key("ring"),
            "{package}: no ring? {versions:?}"
        );
    }
}
