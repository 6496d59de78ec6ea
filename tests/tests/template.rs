//! The SAM template and the function directories match one to one.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    e2e::repository_root()
}

/// The binary name of every crate in `functions/`.
fn function_binaries() -> BTreeSet<String> {
    e2e::function_crates()
        .into_iter()
        .map(|c| c.binary)
        .collect()
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
