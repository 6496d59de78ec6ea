//! The SAM template and the function directories match one to one.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
}

/// The binary name of every crate in `functions/`.
fn function_binaries() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let dir = entry.expect("entry").path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{}: no Cargo.toml: {e}", dir.display()));
        // The [[bin]] name, else the package name.
        let bin = manifest
            .split("[[bin]]")
            .nth(1)
            .and_then(|section| section.lines().find(|l| l.trim_start().starts_with("name")))
            .or_else(|| {
                manifest
                    .lines()
                    .find(|l| l.trim_start().starts_with("name"))
            })
            .and_then(|line| line.split('"').nth(1))
            .unwrap_or_else(|| panic!("{}: no package or binary name", dir.display()));
        names.insert(bin.to_owned());
    }
    names
}

/// The `Binary:` of every rust-cargolambda function in template.yaml.
fn template_binaries(template: &str) -> BTreeSet<String> {
    template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Binary:"))
        .map(|b| b.trim().trim_matches('"').to_owned())
        .collect()
}

#[test]
fn every_function_has_a_resource_and_every_resource_a_function() {
    let template = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let functions = function_binaries();
    let resources = template_binaries(&template);
    assert!(!functions.is_empty());
    let missing: Vec<_> = functions.difference(&resources).collect();
    let orphans: Vec<_> = resources.difference(&functions).collect();
    assert!(
        missing.is_empty(),
        "functions without a resource in template.yaml: {missing:?}"
    );
    assert!(
        orphans.is_empty(),
        "template.yaml resources whose Binary is no function: {orphans:?}"
    );
    let serverless = template.matches("Type: AWS::Serverless::Function").count();
    let cargolambda = template.matches("BuildMethod: rust-cargolambda").count();
    assert_eq!(
        serverless,
        functions.len(),
        "one AWS::Serverless::Function per function"
    );
    assert_eq!(
        cargolambda,
        functions.len(),
        "every function is built with rust-cargolambda"
    );
}

#[test]
fn the_checker_notices_a_missing_resource() {
    let template =
        "Resources:\n  X:\n    Metadata:\n      BuildProperties:\n        Binary: rotate-other\n";
    assert_eq!(
        template_binaries(template),
        BTreeSet::from(["rotate-other".to_owned()])
    );
    assert!(function_binaries().contains("rotate-postgres"));
    assert!(!template_binaries(template).contains("rotate-postgres"));
}
