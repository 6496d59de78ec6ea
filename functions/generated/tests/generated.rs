//! End to end, what only generated secrets have: every type in one secret
//! (checked with tools independent of the function: ssh-keygen, base64 and
//! UUID parsers), plain-string secrets as AWS's template stores them, the
//! configuration test of `RotateImmediately=false`, setSecret reading
//! nothing, the weak-value warning, and no generated value in any log.

use base64::Engine as _;
use serde_json::{json, Value};
use std::process::Command;
use testkit::faults::{stage, step};
use testkit::semantics::{rotate_secret_request, step_lines};
use testkit::GeneratedWorld;

const FUNCTION: &str = "rotate-generated";

fn every_type() -> Value {
    json!({
        "client_id": "kept-as-is",
        "nested": {"kept": [1, 2]},
        "api_token": "initial-token",
        "signing_key": "initial-key",
        "webhook_secret": "initial-hook",
        "session_key": "initial-session",
        "request_id": "initial-id",
        "deploy_key": "initial-private",
        "deploy_key_public": "initial-public",
        "jwt_eddsa": "initial-private",
        "jwt_es256": "initial-private",
        "rotation": {
            "api_token": {"type": "password", "length": 40, "exclude_punctuation": true, "prefix": "tk_"},
            "signing_key": {"type": "bytes", "length": 32, "encoding": "base64"},
            "webhook_secret": {"type": "bytes", "length": 24, "encoding": "hex", "prefix": "whsec_"},
            "session_key": {"type": "bytes", "length": 64, "encoding": "base64url"},
            "request_id": "uuid",
            "deploy_key": {"type": "ssh-ed25519", "comment": "deploy@ci"},
            "jwt_eddsa": "ed25519",
            "jwt_es256": {"type": "ecdsa-p256", "public_key_field": "jwt_es256_verify"}
        }
    })
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field} is not a string"))
}

/// The public key ssh-keygen derives from an OpenSSH private key.
fn ssh_keygen_public(private: &str) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("key");
    std::fs::write(&path, private).expect("writing the key");
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o600);
    std::fs::set_permissions(&path, permissions).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "ssh-keygen: {e}: install the Debian package openssh-client (scripts/setup does)"
            )
        });
    assert!(
        out.status.success(),
        "ssh-keygen refused the private key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// The SubjectPublicKeyInfo PEM that Python's `cryptography` (in the test
/// virtualenv, as moto's dependency) derives from a PKCS#8 private key,
/// and the key's kind there (`ed25519`, `ec:<curve>`).
fn cryptography_public(private: &str) -> (String, String) {
    let script = "import sys\n\
from cryptography.hazmat.primitives import serialization as s\n\
key = s.load_pem_private_key(sys.stdin.buffer.read(), password=None)\n\
from cryptography.hazmat.primitives.asymmetric import ec, ed25519\n\
if isinstance(key, ed25519.Ed25519PrivateKey): print('ed25519')\n\
elif isinstance(key, ec.EllipticCurvePrivateKey): print('ec:' + key.curve.name)\n\
else: print(type(key).__name__)\n\
sys.stdout.write(key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode())\n";
    let mut child = Command::new(testkit::tools::venv_program("python"))
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the test virtualenv's python (scripts/setup makes it)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(private.as_bytes())
        .expect("writing the key");
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "cryptography refused the private key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let (kind, public) = text.split_once('\n').expect("two parts");
    (kind.to_owned(), public.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_is_generated_and_other_fields_are_kept() {
    let world = GeneratedWorld::start_with_env(FUNCTION, &[("RUST_LOG", "trace")]).await;
    let original = every_type();
    let secret = world.create_secret("every-type", &original).await;
    world.rotate(&secret).await.expect("rotation");
    let new = world.value(&secret, "AWSCURRENT").await;
    assert_eq!(world.value(&secret, "AWSPREVIOUS").await, original);

    for field in ["client_id", "nested", "rotation"] {
        assert_eq!(new[field], original[field], "field {field} not kept");
    }
    let token = text(&new, "api_token");
    let random = token.strip_prefix("tk_").expect("the prefix");
    assert_eq!(random.len(), 40);
    assert!(
        random.chars().all(|c| c.is_ascii_alphanumeric()),
        "no punctuation"
    );

    let signing = base64::engine::general_purpose::STANDARD
        .decode(text(&new, "signing_key"))
        .expect("base64");
    assert_eq!(signing.len(), 32);
    let hook = text(&new, "webhook_secret")
        .strip_prefix("whsec_")
        .expect("prefix");
    assert_eq!(hook.len(), 48);
    assert!(hook
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let session = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text(&new, "session_key"))
        .expect("base64url without padding");
    assert_eq!(session.len(), 64);

    let id = uuid::Uuid::parse_str(text(&new, "request_id")).expect("a UUID");
    assert_eq!(id.get_version_num(), 4);

    let private = text(&new, "deploy_key");
    let public = text(&new, "deploy_key_public");
    assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert!(
        public.starts_with("ssh-ed25519 ") && public.ends_with(" deploy@ci"),
        "{public}"
    );
    // ssh-keygen derives the same public key from the private one.
    let derived = ssh_keygen_public(private);
    let key_of = |line: &str| {
        line.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(key_of(&derived), key_of(public));

    // Python's cryptography reads the PKCS#8 keys and derives the stored public halves.
    for (field, public_field, expected_type) in [
        ("jwt_eddsa", "jwt_eddsa_public", "ed25519"),
        ("jwt_es256", "jwt_es256_verify", "ec:secp256r1"),
    ] {
        let private = text(&new, field);
        assert!(
            private.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{field}"
        );
        let (kind, derived) = cryptography_public(private);
        assert_eq!(kind, expected_type, "{field}");
        assert_eq!(derived, text(&new, public_field).trim(), "{field}");
    }

    // A second rotation changes every described field again.
    world.rotate(&secret).await.expect("second rotation");
    let newer = world.value(&secret, "AWSCURRENT").await;
    for field in [
        "api_token",
        "signing_key",
        "webhook_secret",
        "session_key",
        "request_id",
        "deploy_key",
        "deploy_key_public",
        "jwt_eddsa",
        "jwt_es256",
        "jwt_es256_verify",
    ] {
        assert_ne!(newer[field], new[field], "field {field} did not change");
    }

    // No generated value in any log, at trace level either.
    let log = world.all_logs();
    for value in [&new, &newer] {
        for field in [
            "api_token",
            "signing_key",
            "webhook_secret",
            "session_key",
            "deploy_key",
            "jwt_eddsa",
            "jwt_es256",
        ] {
            assert!(
                !log.contains(text(value, field)),
                "field {field} leaked into a log"
            );
        }
        // Nor a line of the private key's body.
        let body = text(value, "deploy_key").lines().nth(2).unwrap_or_default();
        assert!(
            !body.is_empty() && !log.contains(body),
            "the private key leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_string_secret_rotates_as_one_password_like_awss_template() {
    let mut world = GeneratedWorld::start(FUNCTION).await;
    let secret = world
        .create_secret("plain", &Value::String("initial plain value".into()))
        .await;
    world.rotate(&secret).await.expect("rotation");
    let current = world
        .raw_value(&secret, None, Some("AWSCURRENT"))
        .await
        .unwrap();
    assert_eq!(current.chars().count(), 32, "PASSWORD_LENGTH's default");
    assert!(
        !current.chars().any(|c| "/@\"'\\".contains(c)),
        "AWS's template's EXCLUDE_CHARACTERS"
    );
    assert_eq!(
        world
            .raw_value(&secret, None, Some("AWSPREVIOUS"))
            .await
            .as_deref(),
        Some("initial plain value")
    );
    // The policy variables apply.
    world.restart_function(&[("PASSWORD_LENGTH", "12"), ("EXCLUDE_PUNCTUATION", "true")]);
    world.rotate(&secret).await.expect("rotation");
    let current = world
        .raw_value(&secret, None, Some("AWSCURRENT"))
        .await
        .unwrap();
    assert_eq!(current.chars().count(), 12);
    assert!(
        current.chars().all(|c| c.is_ascii_alphanumeric()),
        "{}",
        current.len()
    );
    // A JSON object without a description is refused, not flattened.
    let object = world
        .create_secret("object", &json!({"api_key": "x"}))
        .await;
    let error = world.rotate(&object).await.expect_err("no description");
    assert!(error.contains("field `rotation` is missing"), "{error}");
    assert!(error.contains(&object), "{error}");
    assert_eq!(
        world.value(&object, "AWSCURRENT").await,
        json!({"api_key": "x"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_secret_reads_nothing_and_says_so() {
    let world = GeneratedWorld::start(FUNCTION).await;
    let secret = world
        .create_secret("quiet", &json!({"k": "v", "rotation": {"k": "uuid"}}))
        .await;
    // Stage the rotation, run createSecret by hand, then count setSecret's calls.
    let token = stage(&world, &secret).await;
    step(&world, &secret, &token, "createSecret")
        .await
        .expect("createSecret");
    world.emulator.reset_calls().await;
    step(&world, &secret, &token, "setSecret")
        .await
        .expect("setSecret");
    let calls = world.emulator.calls().await;
    assert_eq!(
        calls["calls"],
        json!({"DescribeSecret": 1}),
        "setSecret read a value: {calls}"
    );
    let set = step_lines(&world)
        .into_iter()
        .find(|l| l["step"] == "setSecret")
        .expect("a setSecret line");
    assert_eq!(
        set["outcome"], "skipped: nothing to set for this kind of secret",
        "{set}"
    );
    for name in ["testSecret", "finishSecret"] {
        step(&world, &secret, &token, name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(
        world.version_with(&secret, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_immediately_false_tests_the_current_value_against_its_description() {
    let world = GeneratedWorld::start(FUNCTION).await;
    // A value that matches its description: the configuration test passes.
    let matching =
        json!({"id": "0e8a3c4f-5b1e-4d7a-9c2b-3f6e8d1a2b4c", "rotation": {"id": "uuid"}});
    let secret = world.create_secret("matching", &matching).await;
    let before = world.stages(&secret).await;
    rotate_secret_request(&world, &secret, None, false)
        .await
        .expect("the configuration test passes");
    assert_eq!(world.stages(&secret).await, before, "nothing may change");
    assert_eq!(world.value(&secret, "AWSCURRENT").await, matching);

    // One that does not: testSecret fails naming the field, nothing changes.
    let short = json!({"key": "abcd", "rotation": {"key": {"type": "bytes", "length": 32, "encoding": "hex"}}});
    let secret = world.create_secret("short", &short).await;
    let before = world.stages(&secret).await;
    let error = rotate_secret_request(&world, &secret, None, false)
        .await
        .expect_err("the stored value does not match");
    assert!(error.contains("testSecret"), "{error}");
    assert!(
        error.contains("field `key` does not match its description (bytes)"),
        "{error}"
    );
    assert!(
        error.contains("holds 2 bytes where the description asks for 32"),
        "{error}"
    );
    assert_eq!(world.stages(&secret).await, before, "nothing may change");

    // A plain-string value is checked against the password policy.
    let plain = world
        .create_secret("plain-hand-made", &Value::String("tiny-Value".into()))
        .await;
    let error = rotate_secret_request(&world, &plain, None, false)
        .await
        .expect_err("10 characters where the policy asks for 32");
    assert!(
        error.contains("checking the plain-string value against the password policy failed: it has 10 characters where the policy asks for 32"),
        "{error}"
    );
    assert!(!error.contains("tiny-Value"), "the value leaked: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_entry_is_generated_with_a_warning() {
    let world = GeneratedWorld::start(FUNCTION).await;
    let secret = world
        .create_secret(
            "weak",
            &json!({"pin": "0000", "rotation": {"pin": {"type": "password", "length": 6, "exclude_lowercase": true, "exclude_uppercase": true, "exclude_punctuation": true}}}),
        )
        .await;
    world
        .rotate(&secret)
        .await
        .expect("a weak value is still made");
    let pin = world.value(&secret, "AWSCURRENT").await["pin"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pin.len(), 6);
    assert!(pin.chars().all(|c| c.is_ascii_digit()));
    let log = world.lambda.function_log_text();
    let warning = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["level"] == "WARN")
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("field `pin` carries only 19 bits of randomness"),
        "{warning}"
    );
    assert!(!log.contains(&pin));
}
