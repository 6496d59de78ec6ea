//! End to end, what only a directory has: LDAPS beside StartTLS, the
//! server hashing what the Password Modify operation sends, an admin named
//! by `masterarn` writing salted hashes, password-policy refusals that name
//! their rule and lose nothing, and StartTLS that never falls back.

use serde_json::{json, Value};
use testkit::ldap::dn_of;
use testkit::server::ServerOptions;
use testkit::{LdapWorld, LoginRecord, TestServer};

const FUNCTION: &str = "rotate-ldap";

fn password_of(value: &Value) -> String {
    value["password"].as_str().expect("a password").to_owned()
}

async fn current_password(world: &LdapWorld, secret: &str) -> String {
    password_of(&world.value(secret, "AWSCURRENT").await)
}

/// `name` with `password` and a secret for it; the secret's ARN.
async fn user(world: &LdapWorld, name: &str, password: &str, extra: Value) -> String {
    world.db.create_user(name, password).await;
    let mut value = world.db_secret(name, password);
    if let (Some(object), Value::Object(more)) = (value.as_object_mut(), extra) {
        object.extend(more);
    }
    world.create_secret(name, &value).await
}

/// A secret of an admin under `ou=admins` (who may write every user's
/// `userPassword`); its ARN.
async fn admin_secret(world: &LdapWorld) -> String {
    let dn = world
        .db
        .create_password_admin("rotator", "rotator-Password-0")
        .await;
    let mut value = world.db_secret("rotator", "rotator-Password-0");
    value["username"] = json!(dn);
    world.create_secret("ldap-admin", &value).await
}

#[tokio::test(flavor = "multi_thread")]
async fn ldaps_rotates_and_the_server_hashes_the_new_password() {
    let world = LdapWorld::start(FUNCTION).await;
    let ldaps = world.db.ldaps_port.expect("an LDAPS port");
    let secret = user(
        &world,
        "svc-ldaps",
        "ldaps-Password-0",
        json!({"port": ldaps, "starttls": false}),
    )
    .await;
    world.rotate(&secret).await.expect("rotation over LDAPS");
    let new = current_password(&world, &secret).await;
    assert!(world.db.can_login("svc-ldaps", &new).await);
    assert!(!world.db.can_login("svc-ldaps", "ldaps-Password-0").await);
    // Password Modify sent the password; the server stored its own hash.
    let stored = world.db.stored_passwords("svc-ldaps").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].starts_with("{SSHA}"), "{stored:?}");
    assert!(!stored[0].contains(&new));
    // The function's binds reached the LDAPS port over TLS.
    let log = world.db.log_text();
    assert!(
        log.contains(&format!("(IP=127.0.0.1:{ldaps})")) && log.contains("TLS established"),
        "no TLS connection to the LDAPS port in the server's log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_named_by_masterarn_writes_a_salted_hash() {
    let world = LdapWorld::start(FUNCTION).await;
    let admin = admin_secret(&world).await;
    let secret = user(
        &world,
        "svc-app",
        "app-Password-0",
        json!({"masterarn": admin}),
    )
    .await;
    world.rotate(&secret).await.expect("rotation as the admin");
    let first = current_password(&world, &secret).await;
    assert!(world.db.can_login("svc-app", &first).await);
    assert!(!world.db.can_login("svc-app", "app-Password-0").await);
    let stored = world.db.stored_passwords("svc-app").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].starts_with("{SSHA}"), "{stored:?}");
    // The plaintext never reached the server: not stored, not logged.
    assert!(!world.db.log_text().contains(&first));
    assert_eq!(
        world.value(&secret, "AWSCURRENT").await["masterarn"],
        json!(admin)
    );
    // A second rotation writes a new salt and password.
    world.rotate(&secret).await.expect("a second rotation");
    let second = current_password(&world, &secret).await;
    assert!(world.db.can_login("svc-app", &second).await);
    assert!(!world.db.can_login("svc-app", &first).await);
    assert!(world.db.admin_works().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn ldap_password_hash_chooses_the_admins_hash_scheme() {
    let world = LdapWorld::start_with_env(FUNCTION, &[("LDAP_PASSWORD_HASH", "ssha512")]).await;
    let admin = admin_secret(&world).await;
    let secret = user(
        &world,
        "svc-sha512",
        "sha512-Password-0",
        json!({"masterarn": admin}),
    )
    .await;
    world.rotate(&secret).await.expect("rotation as the admin");
    let new = current_password(&world, &secret).await;
    let stored = world.db.stored_passwords("svc-sha512").await;
    assert!(stored[0].starts_with("{SSHA512}"), "{stored:?}");
    // slapd's pw-sha2 module verifies it.
    assert!(world.db.can_login("svc-sha512", &new).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_never_creates_an_entry_that_is_missing() {
    let world = LdapWorld::start(FUNCTION).await;
    let admin = admin_secret(&world).await;
    let mut value = world.db_secret("ghost", "ghost-Password-0");
    value["masterarn"] = json!(admin);
    let secret = world.create_secret("ghost", &value).await;
    let error = world.rotate(&secret).await.expect_err("no such entry");
    assert!(
        error.contains("noSuchObject") && error.contains("no entry has this DN"),
        "{error}"
    );
    assert_eq!(world.db.stored_passwords("ghost").await.len(), 0);
}

/// A refusal by the password policy: the error names the rule, the
/// current password keeps working, `AWSCURRENT` stays where it was.
async fn refused_by_policy(policy: &[(&str, &str)], rule: &str) {
    let world = LdapWorld::start(FUNCTION).await;
    let name = format!("svc-{}", rule.to_ascii_lowercase());
    // The policy first: OpenLDAP records when a password was set only
    // while password aging is in effect.
    world.db.set_policy(policy).await;
    let secret = user(&world, &name, "policy-Password-0", json!({})).await;
    let before = world.version_with(&secret, "AWSCURRENT").await;
    let error = world.rotate(&secret).await.expect_err("the policy refuses");
    assert!(
        error.contains(rule) && error.contains("constraintViolation"),
        "{rule} missing: {error}"
    );
    assert!(world.db.can_login(&name, "policy-Password-0").await);
    assert_eq!(world.version_with(&secret, "AWSCURRENT").await, before);
    assert_eq!(current_password(&world, &secret).await, "policy-Password-0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_shorter_than_the_policy_allows_is_refused_naming_pwd_min_length() {
    refused_by_policy(
        &[("pwdCheckQuality", "2"), ("pwdMinLength", "64")],
        "pwdMinLength",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_too_young_to_change_is_refused_naming_pwd_min_age() {
    refused_by_policy(&[("pwdMinAge", "3600")], "pwdMinAge").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_the_access_rules_forbid_gets_a_hint_and_keeps_its_password() {
    let world = LdapWorld::start(FUNCTION).await;
    let secret = user(&world, "svc-locked", "locked-Password-0", json!({})).await;
    // Users may not change their own password under this policy.
    world
        .db
        .set_policy(&[("pwdAllowUserChange", "FALSE")])
        .await;
    let error = world.rotate(&secret).await.expect_err("refused");
    assert!(
        error.contains("pwdAllowUserChange") && error.contains("masterarn"),
        "{error}"
    );
    assert!(world.db.can_login("svc-locked", "locked-Password-0").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_refused_by_the_server_never_falls_back_to_plaintext() {
    let world = LdapWorld::start_with_server(FUNCTION, &[], &ServerOptions::without_tls()).await;
    let secret = user(
        &world,
        "svc-plain",
        "plain-Password-0",
        json!({"starttls": true}),
    )
    .await;
    let error = world.rotate(&secret).await.expect_err("no TLS, no bind");
    assert!(
        error.contains("refused StartTLS") && error.contains("never binds in plaintext"),
        "{error}"
    );
    assert_eq!(
        world.db.logged_in("svc-plain"),
        LoginRecord::Never,
        "the user bound without TLS"
    );
    assert!(world.db.can_login("svc-plain", "plain-Password-0").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dn_written_another_way_still_passes_test_secret() {
    let world = LdapWorld::start(FUNCTION).await;
    world.db.create_user("Mixed Case", "mixed-Password-0").await;
    let mut value = world.db_secret("Mixed Case", "mixed-Password-0");
    // Upper-case types, spaces after commas: the same entry to the server.
    let spelled = dn_of("MIXED CASE")
        .replace("cn=", "CN=")
        .replace(",ou=", ", OU=")
        .replace(",dc=", ", DC=");
    value["username"] = json!(spelled);
    let secret = world.create_secret("mixed", &value).await;
    world.rotate(&secret).await.expect("the same entry");
    assert_eq!(
        world.value(&secret, "AWSCURRENT").await["username"],
        json!(spelled)
    );
    let new = current_password(&world, &secret).await;
    assert!(world.db.can_login("Mixed Case", &new).await);
}
