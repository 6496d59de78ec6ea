//! `applications/`: what `scripts/template` renders, with AWS's parameters
//! (names, order, defaults) and output, the Serverless Application
//! Repository metadata `sam publish` needs, and a README that names each.
//! (Deploying each one and rotating through it is the conformance suite's
//! `each_application_deploys_and_rotates`, run by every function.)

use std::path::Path;
use testkit::applications::{parameters_of, render_all, Publisher, DIRECTORY};
use testkit::functions::Strategy;

fn root() -> &'static Path {
    e2e::repository_root()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// AWS's applications' parameters and defaults (None: required), in their
/// order; the multi-user ones add the master secret's two.
const AWS_PARAMETERS: &[(&str, Option<&str>)] = &[
    ("endpoint", None),
    ("functionName", None),
    (
        "invokingServicePrincipal",
        Some("secretsmanager.amazonaws.com"),
    ),
    ("kmsKeyArn", Some("")),
    ("vpcSubnetIds", Some("")),
    ("vpcSecurityGroupIds", Some("")),
    ("excludeCharacters", Some("")),
];
const MASTER_PARAMETERS: &[(&str, Option<&str>)] = &[
    ("masterSecretArn", Some("")),
    ("masterSecretKmsKeyArn", Some("")),
];

#[test]
fn applications_are_what_scripts_template_renders() {
    let publisher = Publisher::from_manifest(&read("Cargo.toml")).expect("publisher");
    let main = read("template.yaml");
    let files = render_all(&e2e::function_crates(), &main, &publisher).expect("render");
    for file in &files {
        let on_disk = std::fs::read_to_string(root().join(&file.path)).unwrap_or_default();
        assert!(
            on_disk == file.text,
            "{} is not what scripts/template renders: run scripts/template",
            file.path
        );
    }
    let rendered: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for entry in std::fs::read_dir(root().join(DIRECTORY)).expect("applications/") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("name");
        assert!(
            rendered
                .iter()
                .any(|p| p.starts_with(&format!("{DIRECTORY}/{name}/"))),
            "{DIRECTORY}/{name} is no function's application: run scripts/template"
        );
    }
}

#[test]
fn every_application_takes_aws_parameters_and_gives_its_output() {
    let functions = e2e::function_crates();
    let mut count = 0;
    for f in &functions {
        assert!(
            !f.applications.is_empty(),
            "{} has no application",
            f.binary
        );
        for app in &f.applications {
            count += 1;
            let template = read(&format!("{DIRECTORY}/{}/template.yaml", app.name));
            let parameters = parameters_of(&template);
            let mut expected: Vec<(&str, Option<&str>)> = AWS_PARAMETERS.to_vec();
            if app.strategy != Strategy::Single {
                expected.extend_from_slice(MASTER_PARAMETERS);
            }
            let got: Vec<(&str, Option<&str>)> = parameters
                .iter()
                .take(expected.len())
                .map(|p| (p.name.as_str(), p.default.as_deref()))
                .collect();
            assert_eq!(got, expected, "{}: AWS's parameters first", app.name);
            for extra in &parameters[expected.len()..] {
                assert!(
                    extra.default.is_some(),
                    "{}: our parameter {} needs a default",
                    app.name,
                    extra.name
                );
                assert!(
                    extra.name.starts_with(|c: char| c.is_ascii_lowercase()),
                    "{}: {} is not lowerCamel like AWS's",
                    app.name,
                    extra.name
                );
            }
            assert!(
                template.contains("Outputs:\n  RotationLambdaARN:\n"),
                "{}: output RotationLambdaARN",
                app.name
            );
            for key in [
                "    Name: ",
                "    Description: ",
                "    Author: ",
                "    SpdxLicenseId: Apache-2.0",
                "    LicenseUrl: ../../LICENSE",
                "    ReadmeUrl: README.md",
                "    Labels: [",
                "    SemanticVersion: ",
            ] {
                assert!(
                    template.contains(key),
                    "{}: AWS::ServerlessRepo::Application lacks {key:?}",
                    app.name
                );
            }
            // The repository's rules: at most 10 labels of 1 to 127 of
            // [a-zA-Z0-9+-_:/@].
            let labels = template
                .lines()
                .find_map(|l| l.trim().strip_prefix("Labels: ["))
                .and_then(|l| l.strip_suffix(']'))
                .unwrap_or_else(|| panic!("{}: no Labels", app.name));
            let labels: Vec<&str> = labels.split(", ").collect();
            assert!(labels.len() <= 10, "{}: {labels:?}", app.name);
            for label in labels {
                assert!(
                    (1..=127).contains(&label.len())
                        && label
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-_:/@".contains(c)),
                    "{}: label {label:?}",
                    app.name
                );
            }
            assert!(
                template.contains(&format!("Binary: {}\n", f.binary)),
                "{}: builds {}",
                app.name,
                f.binary
            );
            if let Some(aws) = &app.replaces {
                assert!(
                    template.contains(&format!("\n  {aws}:\n    Type: AWS::Serverless::Function")),
                    "{}: the function's logical id is AWS's ({aws})",
                    app.name
                );
            }
        }
    }
    assert!(root().join("LICENSE").exists(), "LicenseUrl names LICENSE");
    assert!(count >= functions.len());
}

#[test]
fn the_readme_lists_every_application_and_what_it_replaces() {
    let readme = read("README.md");
    for f in e2e::function_crates() {
        for app in &f.applications {
            let mut row = format!("| `{}` | `{}` |", app.name, f.binary);
            if let Some(aws) = &app.replaces {
                row.push_str(&format!(" `{aws}` |"));
            }
            assert!(
                readme.contains(&row),
                "README's application table lacks {row:?}"
            );
            if let Some(kind) = &app.hosted_rotation_type {
                assert!(
                    readme.contains(&format!("| `{kind}` |")),
                    "README's application table lacks RotationType {kind}"
                );
            }
        }
    }
}

/// template.yaml, deployed as `sam deploy` does, deleted and deployed again
/// under the same name (its kept log groups must not be in the way), with
/// least privilege for every function; rotate-postgres, run as the function
/// the stack made with the environment it gave, rotates a secret through
/// the stack's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_deploys_again_after_a_delete_and_its_functions_rotate() {
    use serde_json::json;
    use testkit::deploy::{assert_least_privilege, deploy_created, run_as_deployed};
    use testkit::server::ServerOptions;
    use testkit::TestServer;

    let stack = "secrets-rotation";
    let name = format!("{stack}-rotate-postgres");
    let mut world =
        testkit::PostgresWorld::start_as("rotate-postgres", &name, &[], &ServerOptions::default())
            .await;
    let endpoint = world.emulator.url.clone();
    let deployment = deploy_created(
        &root().join("template.yaml"),
        &endpoint,
        stack,
        &json!({"SecretsManagerEndpoint": endpoint}),
        true,
    )
    .await;
    let again = deployment.recreated.as_ref().expect("recreated");
    assert_eq!(
        again.status, "CREATE_COMPLETE",
        "deleted, then deployed again under the same name: {:?}",
        again.reason
    );
    let functions = e2e::function_crates();
    assert_eq!(deployment.functions.len(), functions.len());
    for f in &functions {
        let logical = format!("{}RotationFunction", f.resource);
        let deployed = &deployment.functions[&logical];
        let arn = &deployment.first.outputs[&format!("{logical}Arn")];
        assert_least_privilege(&logical, deployed, arn, None, false, None);
        let group = &deployment.first.outputs[&format!("{}RotationLogGroupName", f.resource)];
        assert!(
            !group.starts_with("/aws/lambda/"),
            "{group}: a fixed name would be in the way of the next deployment"
        );
        assert_ne!(
            again.outputs[&format!("{}RotationLogGroupName", f.resource)],
            *group,
            "the second deployment makes its own log group"
        );
    }
    assert_eq!(
        deployment.skipped_types,
        ["AWS::CloudWatch::Alarm", "AWS::Logs::QueryDefinition"],
        "the emulator skips only what it cannot create"
    );

    run_as_deployed(
        &mut world,
        &deployment.functions["PostgresRotationFunction"],
    );
    world.db.create_user("app", "stack-Password-1").await;
    let secret = world
        .create_secret("app-db", &world.db_secret("app", "stack-Password-1"))
        .await;
    let arn = &deployment.first.outputs["PostgresRotationFunctionArn"];
    world.rotate_with(&secret, arn).await.expect("rotation");
    let current = world.value(&secret, "AWSCURRENT").await;
    let password = world.db.password_in(&current);
    assert_ne!(password, "stack-Password-1");
    assert!(world.db.can_login("app", &password).await);
}
