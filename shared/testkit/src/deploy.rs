//! SAM templates deployed into the emulator's CloudFormation
//! (`launcher/deploy_stack.py`: packaged as `sam package` does, transformed
//! by the SAM translator, created with the documented capabilities), and
//! the conformance scenario that deploys each of a function's applications
//! and rotates a real secret through the `RotationLambdaARN` it outputs.

use crate::applications::DIRECTORY;
use crate::functions::{function_crates, Application, Strategy};
use crate::server::{ServerOptions, TestServer};
use crate::tools::{venv_program, workspace_root};
use crate::{Function, World};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// One `CreateStack`'s outcome.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct StackOutcome {
    /// `CREATE_COMPLETE`, or why not.
    pub status: String,
    /// The failure's reason.
    pub reason: Option<String>,
    /// The stack's outputs.
    pub outputs: BTreeMap<String, String>,
}

/// A function the stack made, as the emulator's Lambda and IAM report it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DeployedFunction {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Its environment variables (values as the stack gave them).
    pub environment: BTreeMap<String, Value>,
    /// Its role's inline policies, by name.
    pub role_policies: BTreeMap<String, Value>,
    /// Managed policies attached to its role.
    pub managed_policies: Vec<String>,
}

impl DeployedFunction {
    /// The environment as the function process gets it (strings).
    pub fn environment_strings(&self) -> Vec<(String, String)> {
        self.environment
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }

    /// Every statement of every inline policy of its role.
    pub fn statements(&self) -> Vec<Value> {
        self.role_policies
            .values()
            .flat_map(|doc| match &doc["Statement"] {
                Value::Array(items) => items.clone(),
                Value::Null => Vec::new(),
                single => vec![single.clone()],
            })
            .collect()
    }

    /// Every action its role allows.
    pub fn actions(&self) -> Vec<String> {
        self.statements()
            .iter()
            .flat_map(|s| strings(&s["Action"]))
            .collect()
    }
}

/// A string or a list of strings, as IAM takes `Action` and `Resource`.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// What deploying a template made.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Deployment {
    /// The template as the SAM translator transformed it.
    pub transformed: Value,
    /// Every condition's value with the parameters given.
    pub conditions: BTreeMap<String, bool>,
    /// Resource types the emulator cannot create (skipped).
    pub skipped_types: Vec<String>,
    /// The first `CreateStack`.
    pub first: StackOutcome,
    /// The stack's functions by logical id (when it was created).
    #[serde(default)]
    pub functions: BTreeMap<String, DeployedFunction>,
    /// `CreateStack` again after `DeleteStack`, when asked for.
    pub recreated: Option<StackOutcome>,
}

/// Deploys `template` (a path under the workspace root) as `stack` into the
/// emulator at `endpoint` with `parameters`; with `recreate`, deletes the
/// stack then creates it again under the same name.
pub fn deploy(
    template: &Path,
    endpoint: &str,
    stack: &str,
    parameters: &Value,
    recreate: bool,
) -> Deployment {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("launcher/deploy_stack.py");
    let mut command = Command::new(venv_program("python"));
    command
        .arg(script)
        .args(["--template", &template.display().to_string()])
        .args(["--endpoint", endpoint])
        .args(["--stack-name", stack])
        .args(["--parameters", &parameters.to_string()]);
    if recreate {
        command.arg("--recreate");
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("running deploy_stack.py (run scripts/setup): {e}"));
    assert!(
        out.status.success(),
        "deploying {} failed:\n{}",
        template.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "deploy_stack.py answered no report ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// [`deploy`] from async code (on a blocking thread), asserting that the
/// stack was created.
pub async fn deploy_created(
    template: &Path,
    endpoint: &str,
    stack: &str,
    parameters: &Value,
    recreate: bool,
) -> Deployment {
    let (path, url, name, values) = (
        template.to_path_buf(),
        endpoint.to_owned(),
        stack.to_owned(),
        parameters.clone(),
    );
    let deployment =
        tokio::task::spawn_blocking(move || deploy(&path, &url, &name, &values, recreate))
            .await
            .expect("deploy_stack.py");
    assert_eq!(
        deployment.first.status,
        "CREATE_COMPLETE",
        "{} as stack {stack}: {:?}",
        template.display(),
        deployment.first.reason
    );
    deployment
}

/// Restarts the world's function with the environment its stack gave
/// `deployed` (on top of the world's own: endpoints, credentials, the test
/// CA).
pub fn run_as_deployed<D: TestServer>(world: &mut World<D>, deployed: &DeployedFunction) {
    let env = deployed.environment_strings();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    world.restart_function(&env);
}

/// The template of the application `name`.
pub fn application_template(name: &str) -> std::path::PathBuf {
    workspace_root()
        .join(DIRECTORY)
        .join(name)
        .join("template.yaml")
}

const ADMIN: &str = "rotation_admin";
const ADMIN_PASSWORD: &str = "admin-Deploy-Password-4";
const APP_PASSWORD: &str = "app-Deploy-Password-5";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Checks the least privilege of a deployed function's role: secret actions
/// only on secrets that name this function (and the master secret, only
/// when given), no `GetRandomPassword` (passwords are made in the
/// function), the log actions on its own log group only, the
/// network-interface actions only when the function runs in a VPC, the KMS
/// actions only with a key and only on it through Secrets Manager, and no
/// other action on every resource (IAM keys: the users under one path;
/// ElastiCache: the users listed).
pub fn assert_least_privilege(
    app: &str,
    function: &DeployedFunction,
    rotation_lambda_arn: &str,
    master_secret: Option<&str>,
    in_vpc: bool,
    kms_key: Option<&str>,
) {
    assert!(
        function.managed_policies.is_empty(),
        "{app}: managed policies attached: {:?}",
        function.managed_policies
    );
    let actions = function.actions();
    assert!(
        !actions
            .iter()
            .any(|a| a == "*" || a.ends_with(":*") || a == "secretsmanager:GetRandomPassword"),
        "{app}: a wildcard action or GetRandomPassword: {actions:?}"
    );
    let ec2 = actions.iter().any(|a| a.starts_with("ec2:"));
    assert_eq!(
        ec2, in_vpc,
        "{app}: network-interface actions must be granted exactly when the function runs in a VPC (in_vpc = {in_vpc}): {actions:?}"
    );
    let kms = actions.iter().any(|a| a.starts_with("kms:"));
    assert_eq!(
        kms,
        kms_key.is_some(),
        "{app}: KMS actions exactly when the stack is given a key: {actions:?}"
    );
    for statement in function.statements() {
        let actions = strings(&statement["Action"]);
        let resources = strings(&statement["Resource"]);
        if actions.iter().any(|a| a.starts_with("kms:")) {
            assert_eq!(
                resources,
                kms_key.map(|k| vec![k.to_owned()]).unwrap_or_default(),
                "{app}: KMS actions on the stack's key only: {statement}"
            );
            assert!(
                statement["Condition"]["StringEquals"]["kms:ViaService"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("secretsmanager.")),
                "{app}: the key only through Secrets Manager: {statement}"
            );
        }
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            let on_every_secret = resources.iter().any(|r| r.ends_with(":secret:*"));
            if on_every_secret {
                assert_eq!(
                    statement["Condition"]["StringEquals"]
                        ["secretsmanager:resource/AllowRotationLambdaArn"],
                    json!(rotation_lambda_arn),
                    "{app}: secret actions on every secret need the condition naming this function: {statement}"
                );
            } else {
                assert_eq!(
                    resources,
                    master_secret.map(|m| vec![m.to_owned()]).unwrap_or_default(),
                    "{app}: secret actions on a named secret only for the master secret: {statement}"
                );
                assert!(
                    actions.iter().all(|a| a == "secretsmanager:GetSecretValue"
                        || a == "secretsmanager:DescribeSecret"),
                    "{app}: the master secret is only read: {statement}"
                );
            }
        }
        // Only actions that take no resource (the network interfaces a
        // function in a VPC needs, the RDS lookups) may name every resource.
        if resources.iter().any(|r| r == "*") {
            assert!(
                actions.iter().all(|a| a.starts_with("ec2:")
                    || a == "rds:DescribeDBInstances"
                    || a == "rds:DescribeDBClusters"),
                "{app}: only network-interface and RDS lookups may name every resource: {statement}"
            );
        }
        if actions.iter().any(|a| a.starts_with("logs:")) {
            assert!(
                resources.iter().all(|r| r.contains(":log-group:")),
                "{app}: log actions only on its log group: {statement}"
            );
        }
    }
}

/// Deploys the application `app` of `function` into the world's emulator
/// CloudFormation (and again after deleting it), runs the function binary
/// as the function the stack made, with the environment the stack gave it,
/// and rotates a secret through the `RotationLambdaARN` output.
pub async fn application_deploys_and_rotates<D: TestServer>(
    function: &Function,
    app: &Application,
) {
    let name = format!("fn-{}", app.name.to_ascii_lowercase());
    let mut world = World::<D>::start_as(function, &name, &[], &ServerOptions::default()).await;
    let template = application_template(&app.name);
    let mut parameters = json!({
        "endpoint": world.emulator.url,
        "functionName": name,
    });
    let master = if app.strategy == Strategy::Alternating {
        assert!(
            world.db.create_admin(ADMIN, ADMIN_PASSWORD).await,
            "{}: an alternating-users application needs a server that makes admins",
            app.name
        );
        let admin = world
            .create_secret("app-admin", &world.db_secret(ADMIN, ADMIN_PASSWORD))
            .await;
        parameters["masterSecretArn"] = json!(admin);
        Some(admin)
    } else {
        None
    };
    let deployment = deploy_created(
        &template,
        &world.emulator.url,
        "rotation-app",
        &parameters,
        true,
    )
    .await;
    let recreated = deployment.recreated.as_ref().expect("recreated");
    assert_eq!(
        recreated.status, "CREATE_COMPLETE",
        "{}: deleted, then deployed again under the same name: {:?}",
        app.name, recreated.reason
    );
    let arn = deployment
        .first
        .outputs
        .get("RotationLambdaARN")
        .unwrap_or_else(|| panic!("{}: no RotationLambdaARN output", app.name))
        .clone();
    assert!(arn.ends_with(&format!(":function:{name}")), "{arn}");
    let deployed = deployment
        .functions
        .get(app.function_logical_id())
        .unwrap_or_else(|| panic!("{}: no function {}", app.name, app.function_logical_id()));
    assert_eq!(
        deployed.environment.get("SECRETS_MANAGER_ENDPOINT"),
        Some(&json!(world.emulator.url)),
        "endpoint reaches the function"
    );
    assert_least_privilege(&app.name, deployed, &arn, master.as_deref(), false, None);

    // The function as the stack configured it.
    run_as_deployed(&mut world, deployed);

    world.db.create_user("app", APP_PASSWORD).await;
    let mut value = world.db_secret("app", APP_PASSWORD);
    if let Some(admin) = &master {
        value["masterarn"] = json!(admin);
    }
    let secret = world.create_secret("app-secret", &value).await;
    world
        .rotate_with(&secret, &arn)
        .await
        .unwrap_or_else(|e| panic!("{}: rotation through RotationLambdaARN: {e}", app.name));
    let current = world.value(&secret, "AWSCURRENT").await;
    let password = world.db.password_in(&current);
    assert_ne!(password, APP_PASSWORD, "{}: not rotated", app.name);
    let user = world.db.user_in(&current);
    assert!(
        world.db.can_login(&user, &password).await,
        "{}: the new credential of {user} does not log in",
        app.name
    );

    // In a VPC the role gains the network-interface actions, and only then;
    // with a customer-managed key, the KMS actions on that key.
    let mut in_vpc = parameters.clone();
    in_vpc["functionName"] = json!(format!("{name}-vpc"));
    in_vpc["vpcSubnetIds"] = json!("subnet-0a1b2c3d,subnet-4e5f6a7b");
    in_vpc["vpcSecurityGroupIds"] = json!("sg-0123456789abcdef0");
    in_vpc["kmsKeyArn"] = json!(KMS_KEY);
    let vpc = deploy_created(
        &template,
        &world.emulator.url,
        "rotation-app-in-vpc",
        &in_vpc,
        false,
    )
    .await;
    let vpc_arn = &vpc.first.outputs["RotationLambdaARN"];
    let vpc_function = &vpc.functions[app.function_logical_id()];
    assert_least_privilege(
        &app.name,
        vpc_function,
        vpc_arn,
        master.as_deref(),
        true,
        Some(KMS_KEY),
    );
}

/// Conformance: every application of the function (its manifest's
/// `[[package.metadata.rotation.application]]`) deploys, deploys again
/// after a delete, grants least privilege, and rotates a real secret
/// through its `RotationLambdaARN`.
pub async fn each_application_deploys_and_rotates<D: TestServer>(function: &Function) {
    let crate_ = function_crates()
        .into_iter()
        .find(|c| c.binary == function.binary)
        .unwrap_or_else(|| panic!("no function crate builds {}", function.binary));
    assert!(
        !crate_.applications.is_empty(),
        "{} has no [[package.metadata.rotation.application]]",
        function.binary
    );
    for app in &crate_.applications {
        application_deploys_and_rotates::<D>(function, app).await;
    }
}
