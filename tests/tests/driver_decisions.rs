//! The driver's decisions, in milliseconds: the four steps through
//! `rotation::rotate` against the test kit's in-memory Secrets Manager, with
//! a fake database engine behind `database::DatabaseBackend`. Every
//! pre-check, createSecret when the pending value exists, the finish order,
//! a finish re-run, a crash between moving AWSCURRENT and clearing
//! AWSPENDING, the calls a rotation makes, and which credential the
//! single-user and alternating-users flows log in with.
//!
//! The end-to-end suite proves the same protocol against moto, real servers
//! and the real binaries; these tests pin the decisions themselves.

use database::alternating::{NameLimit, NameUnit};
use database::{DatabaseBackend, DatabaseSecret, DatabaseSettings, Engine, SecretShape};
use rotation::{
    rotate, BackendError, CredentialFailure, CredentialRole, FailureKind, RotationError,
    RotationEvent, SecretsManager, StepOutcome, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
};
use secrecy::ExposeSecret;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use testkit::memory::InMemorySecrets;

static SHAPE: SecretShape = SecretShape {
    family: "Fake",
    engines: &["fake"],
    default_port: 1,
    default_dbname: None,
};

/// A database in memory: users and their passwords; records every login.
/// Clones share the database.
#[derive(Default, Clone)]
struct FakeEngine {
    users: Arc<Mutex<HashMap<String, String>>>,
    logins: Arc<Mutex<Vec<(CredentialRole, String, bool)>>>,
    limit: Option<NameLimit>,
    /// Whether it can clone users (alternating users).
    clones: bool,
}

impl FakeEngine {
    fn with_user(user: &str, password: &str) -> Self {
        let engine = FakeEngine {
            limit: Some(NameLimit {
                max: 63,
                unit: NameUnit::Bytes,
                source: "the fake's limit".into(),
            }),
            clones: true,
            ..Default::default()
        };
        engine.set(user, password);
        engine
    }

    fn set(&self, user: &str, password: &str) {
        self.users
            .lock()
            .unwrap()
            .insert(user.to_owned(), password.to_owned());
    }

    fn accepts(&self, user: &str, password: &str) -> bool {
        self.users.lock().unwrap().get(user).map(String::as_str) == Some(password)
    }

    fn logins(&self) -> Vec<(CredentialRole, bool)> {
        self.logins
            .lock()
            .unwrap()
            .iter()
            .map(|(role, _, ok)| (*role, *ok))
            .collect()
    }
}

impl Engine for FakeEngine {
    type Conn = String;

    fn shape(&self) -> &'static SecretShape {
        &SHAPE
    }

    fn name_limit(&self) -> Option<&NameLimit> {
        self.limit.as_ref()
    }

    async fn login(
        &self,
        secret: &DatabaseSecret,
        role: CredentialRole,
        _settings: &DatabaseSettings,
    ) -> Result<String, CredentialFailure> {
        let ok = self.accepts(&secret.username, secret.password.expose_secret());
        self.logins
            .lock()
            .unwrap()
            .push((role, secret.username.clone(), ok));
        if ok {
            Ok(secret.username.clone())
        } else {
            Err(CredentialFailure {
                role,
                target: secret.target(),
                kind: FailureKind::Authentication,
                detail: "wrong password".into(),
            })
        }
    }

    async fn set_own_password(
        &self,
        conn: &mut String,
        _current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        self.set(conn, pending.password.expose_secret());
        Ok(())
    }

    fn can_clone_users(&self) -> bool {
        self.clones
    }

    async fn clone_user(
        &self,
        _admin: &mut String,
        _current_conn: &mut String,
        _current: &DatabaseSecret,
        pending: &DatabaseSecret,
    ) -> Result<(), BackendError> {
        self.set(&pending.username, pending.password.expose_secret());
        Ok(())
    }

    async fn session_user(&self, conn: &mut String) -> Result<String, BackendError> {
        Ok(conn.clone())
    }
}

struct Fixture {
    store: InMemorySecrets,
    secrets: SecretsManager,
    backend: DatabaseBackend<FakeEngine>,
    engine: FakeEngine,
    arn: String,
}

fn fixture(value: serde_json::Value, env: &[(&str, &str)]) -> Fixture {
    let store = InMemorySecrets::new();
    let arn = store.create("app", &value.to_string());
    let secrets = SecretsManager::with_api(Arc::new(store.clone()));
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let settings =
        DatabaseSettings::from_lookup("", |name| env.get(name).cloned()).expect("settings");
    let user = value["username"].as_str().unwrap_or_default();
    let password = value["password"].as_str().unwrap_or_default();
    let engine = FakeEngine::with_user(user, password);
    let backend = DatabaseBackend::new(settings, engine.clone());
    Fixture {
        store,
        secrets,
        backend,
        engine,
        arn,
    }
}

fn secret_value(user: &str, password: &str) -> serde_json::Value {
    json!({"engine": "fake", "host": "db.internal", "username": user, "password": password})
}

impl Fixture {
    async fn step(&self, token: &str, step: &str) -> Result<StepOutcome, RotationError> {
        let event = RotationEvent::from_json(
            json!({"SecretId": self.arn, "ClientRequestToken": token, "Step": step}),
        )
        .expect("an event");
        rotate(&self.backend, &self.secrets, &event).await
    }

    async fn all_steps(&self, token: &str) {
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            let outcome = self
                .step(token, step)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
            assert_eq!(outcome, StepOutcome::Done, "{step}");
        }
    }

    fn value_of(&self, stage: &str) -> serde_json::Value {
        let version = self
            .store
            .version_with(&self.arn, stage)
            .expect("a version");
        serde_json::from_str(&self.store.value(&self.arn, &version).expect("a value")).unwrap()
    }
}

#[tokio::test]
async fn a_rotation_moves_the_labels_and_makes_nine_calls_on_one_warm_instance() {
    let f = fixture(secret_value("app", "old-Password-1"), &[]);
    let old = f.store.version_with(&f.arn, AWSCURRENT).unwrap();
    f.store.start_rotation(&f.arn, "t1");
    f.all_steps("t1").await;

    let stages = f.store.stages(&f.arn);
    assert_eq!(stages["t1"], vec![AWSCURRENT.to_owned()]);
    assert_eq!(stages[&old], vec![AWSPREVIOUS.to_owned()]);
    let new = f.value_of(AWSCURRENT);
    assert!(f.engine.accepts("app", new["password"].as_str().unwrap()));
    assert!(!f.engine.accepts("app", "old-Password-1"));

    // Describe per step (4, every pre-check made), GetSecretValue for
    // AWSCURRENT and for the pending version's existence in createSecret
    // (2: later steps reuse what this process read and wrote), PutSecretValue
    // (1), UpdateSecretVersionStage to move AWSCURRENT and clear AWSPENDING (2).
    let calls = f.store.calls();
    assert_eq!(calls["DescribeSecret"], 4, "{calls:?}");
    assert_eq!(calls["GetSecretValue"], 2, "{calls:?}");
    assert_eq!(calls["PutSecretValue"], 1, "{calls:?}");
    assert_eq!(calls["UpdateSecretVersionStage"], 2, "{calls:?}");
    assert_eq!(f.store.total_calls(), 9);
}

#[tokio::test]
async fn single_user_logs_in_with_current_and_probes_pending_only_when_it_fails() {
    let f = fixture(secret_value("app", "old-Password-1"), &[]);
    f.store.start_rotation(&f.arn, "t1");
    f.step("t1", "createSecret").await.unwrap();
    f.step("t1", "setSecret").await.unwrap();
    // The normal path: the current credential logs in and sets the new
    // password; the pending one is not tried (one login less).
    assert_eq!(f.engine.logins(), vec![(CredentialRole::Current, true)]);

    // setSecret again (the service's retry): the current credential fails,
    // the pending one already works: nothing changes.
    f.engine.logins.lock().unwrap().clear();
    assert_eq!(
        f.step("t1", "setSecret").await.unwrap(),
        StepOutcome::AlreadySet
    );
    assert_eq!(
        f.engine.logins(),
        vec![
            (CredentialRole::Current, false),
            (CredentialRole::Pending, true)
        ]
    );
}

#[tokio::test]
async fn single_user_recovers_through_the_previous_value() {
    let f = fixture(secret_value("app", "first-Password-1"), &[]);
    f.store.start_rotation(&f.arn, "t1");
    f.all_steps("t1").await;
    // The database went back to the first password (a restore, a half-done
    // earlier rotation): current fails, previous logs in and sets the new one.
    f.engine.set("app", "first-Password-1");
    f.store.start_rotation(&f.arn, "t2");
    f.step("t2", "createSecret").await.unwrap();
    f.engine.logins.lock().unwrap().clear();
    assert_eq!(f.step("t2", "setSecret").await.unwrap(), StepOutcome::Done);
    assert_eq!(
        f.engine.logins(),
        vec![
            (CredentialRole::Current, false),
            (CredentialRole::Pending, false),
            (CredentialRole::Previous, true)
        ]
    );
    let pending: serde_json::Value =
        serde_json::from_str(&f.store.value(&f.arn, "t2").unwrap()).unwrap();
    assert!(f
        .engine
        .accepts("app", pending["password"].as_str().unwrap()));
}

#[tokio::test]
async fn alternating_users_set_the_other_user_as_the_admin() {
    let mut value = secret_value("app", "app-Password-1");
    value["masterarn"] = json!("admin-secret");
    let f = fixture(value, &[]);
    f.store.create(
        "admin-secret",
        &json!({"host": "db.internal", "username": "admin", "password": "admin-Password-1"})
            .to_string(),
    );
    f.engine.set("admin", "admin-Password-1");
    f.store.start_rotation(&f.arn, "t1");
    f.all_steps("t1").await;
    let roles: Vec<CredentialRole> = f.engine.logins().into_iter().map(|(r, _)| r).collect();
    assert_eq!(
        roles,
        vec![
            CredentialRole::Pending, // not there yet
            CredentialRole::Current, // the model of the clone
            CredentialRole::Admin,   // makes the clone
            CredentialRole::Pending, // testSecret
        ]
    );
    assert_eq!(f.value_of(AWSCURRENT)["username"], "app_clone");
    // The user the secret named before keeps working until the next rotation.
    assert!(f.engine.accepts("app", "app-Password-1"));
}

#[tokio::test]
async fn an_engine_that_cannot_clone_refuses_alternating_users_in_create_secret() {
    let mut value = secret_value("app", "app-Password-1");
    value["masterarn"] = json!("admin-secret");
    let mut f = fixture(value, &[]);
    f.engine.clones = false;
    f.engine.limit = None;
    f.backend = DatabaseBackend::new(f.backend.settings.clone(), f.engine.clone());
    f.store.start_rotation(&f.arn, "t1");
    let error = f.step("t1", "createSecret").await.unwrap_err().to_string();
    assert!(
        error.contains("a function that can clone users, and this one cannot"),
        "{error}"
    );
    assert!(error.contains("ROTATION_STRATEGY=single-user"), "{error}");
    assert!(error.contains("`masterarn`"), "{error}");
    assert_eq!(
        f.store.value(&f.arn, "t1"),
        None,
        "a pending value was stored"
    );
    assert!(
        f.engine.logins().is_empty(),
        "it logged in: {:?}",
        f.engine.logins()
    );

    // The single-user strategy works with the same engine, and without a
    // name limit nothing is refused for length.
    let mut long = secret_value(&"u".repeat(200), "long-Password-1");
    long["masterarn"] = json!("admin-secret");
    let mut g = fixture(long, &[("ROTATION_STRATEGY", "single-user")]);
    g.engine.clones = false;
    g.engine.limit = None;
    g.backend = DatabaseBackend::new(g.backend.settings.clone(), g.engine.clone());
    g.store.start_rotation(&g.arn, "t2");
    g.all_steps("t2").await;
    assert_eq!(g.value_of(AWSCURRENT)["username"], "u".repeat(200));
}

#[tokio::test]
async fn every_pre_check_refuses_before_any_change() {
    let f = fixture(secret_value("app", "old-Password-1"), &[]);
    let current = f.store.version_with(&f.arn, AWSCURRENT).unwrap();

    let unknown = f.step("nope", "createSecret").await.unwrap_err();
    assert!(
        matches!(unknown, RotationError::UnknownVersion { .. }),
        "{unknown}"
    );

    f.store.set_stage(&f.arn, "t1", "SOMETHING", true);
    let not_pending = f.step("t1", "createSecret").await.unwrap_err();
    assert!(
        matches!(not_pending, RotationError::NotPending { .. }),
        "{not_pending}"
    );

    f.store.start_rotation(&f.arn, "t2");
    f.store.set_rotation_enabled(&f.arn, Some(false));
    let disabled = f.step("t2", "createSecret").await.unwrap_err();
    assert!(
        matches!(disabled, RotationError::RotationDisabled { .. }),
        "{disabled}"
    );
    f.store.set_rotation_enabled(&f.arn, None);

    // The token's version is already AWSCURRENT: nothing to do, any step.
    for step in ["createSecret", "setSecret", "testSecret"] {
        assert_eq!(
            f.step(&current, step).await.unwrap(),
            StepOutcome::AlreadyCurrent
        );
    }
    assert_eq!(f.store.calls().get("PutSecretValue"), None);
    assert_eq!(f.store.calls().get("UpdateSecretVersionStage"), None);
    assert!(f.engine.accepts("app", "old-Password-1"));
}

#[tokio::test]
async fn create_secret_keeps_a_pending_value_that_exists() {
    let f = fixture(secret_value("app", "old-Password-1"), &[]);
    f.store.start_rotation(&f.arn, "t1");
    f.step("t1", "createSecret").await.unwrap();
    let first = f.store.value(&f.arn, "t1").unwrap();
    assert_eq!(
        f.step("t1", "createSecret").await.unwrap(),
        StepOutcome::PendingExists
    );
    // Another instance (no cache) finds it in the store too.
    let other = SecretsManager::with_api(Arc::new(f.store.clone()));
    let event = RotationEvent::from_json(
        json!({"SecretId": f.arn, "ClientRequestToken": "t1", "Step": "createSecret"}),
    )
    .unwrap();
    assert_eq!(
        rotate(&f.backend, &other, &event).await.unwrap(),
        StepOutcome::PendingExists
    );
    assert_eq!(f.store.value(&f.arn, "t1").unwrap(), first);
    assert_eq!(f.store.calls()["PutSecretValue"], 1);
}

#[tokio::test]
async fn a_crash_between_moving_current_and_clearing_pending_is_finished_by_the_rerun() {
    let f = fixture(secret_value("app", "old-Password-1"), &[]);
    let old = f.store.version_with(&f.arn, AWSCURRENT).unwrap();
    f.store.start_rotation(&f.arn, "t1");
    for step in ["createSecret", "setSecret", "testSecret"] {
        f.step("t1", step).await.unwrap();
    }
    // finishSecret's first call (move AWSCURRENT) went through, then the
    // function died before its second (clear AWSPENDING).
    use rotation::SecretsApi;
    f.store
        .update_stage(&f.arn, AWSCURRENT, Some("t1"), Some(&old))
        .await
        .unwrap();
    let stages = f.store.stages(&f.arn);
    assert_eq!(
        stages["t1"],
        vec![AWSCURRENT.to_owned(), AWSPENDING.to_owned()]
    );
    // The service retries finishSecret: the token is AWSCURRENT, so it only
    // clears AWSPENDING.
    let updates = f.store.calls()["UpdateSecretVersionStage"];
    assert_eq!(
        f.step("t1", "finishSecret").await.unwrap(),
        StepOutcome::PendingCleared
    );
    assert_eq!(f.store.calls()["UpdateSecretVersionStage"], updates + 1);
    assert_eq!(f.store.stages(&f.arn)["t1"], vec![AWSCURRENT.to_owned()]);
    assert_eq!(f.store.stages(&f.arn)[&old], vec![AWSPREVIOUS.to_owned()]);
    // And once more: nothing left to do, no call that changes anything.
    assert_eq!(
        f.step("t1", "finishSecret").await.unwrap(),
        StepOutcome::AlreadyCurrent
    );
    assert_eq!(f.store.calls()["UpdateSecretVersionStage"], updates + 1);
}

#[tokio::test]
async fn a_failed_label_call_in_finish_leaves_the_current_value_current() {
    let f = fixture(secret_value("app", "old-Password-1"), &[]);
    let old = f.store.version_with(&f.arn, AWSCURRENT).unwrap();
    f.store.start_rotation(&f.arn, "t1");
    for step in ["createSecret", "setSecret", "testSecret"] {
        f.step("t1", step).await.unwrap();
    }
    f.store.fail_next("UpdateSecretVersionStage", 1);
    let error = f.step("t1", "finishSecret").await.unwrap_err();
    assert_eq!(error.failure_kind(), "secrets_manager", "{error}");
    assert_eq!(
        f.store.version_with(&f.arn, AWSCURRENT).as_deref(),
        Some(old.as_str())
    );
    // The retry finishes.
    assert_eq!(
        f.step("t1", "finishSecret").await.unwrap(),
        StepOutcome::Done
    );
    assert_eq!(
        f.store.version_with(&f.arn, AWSCURRENT).as_deref(),
        Some("t1")
    );
    assert!(f.store.version_with(&f.arn, AWSPENDING).is_none());
}
