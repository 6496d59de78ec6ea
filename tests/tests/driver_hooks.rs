//! The driver's finishSecret hook (`Backend::after_finish`, used by MySQL's
//! dual passwords), through the emulator with a recording backend: called
//! once, with the new value and the previous one, after `AWSCURRENT` moved;
//! its failure does not fail the step and is logged; a backend without
//! finish work costs no extra call.

use rotation::{
    rotate, Backend, BackendError, CreateContext, FinishContext, RotationEvent, SecretsManager,
    SetContext, SetOutcome, Step, StepOutcome, AWSCURRENT,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::sync::Mutex;
use testkit::PostgresWorld;

/// Stores `{"password": …}`; sets and tests nothing; records finish calls.
struct Recorder {
    finish_work: bool,
    fail_finish: bool,
    secrets: SecretsManager,
    secret_id: String,
    /// (password passed in, the previous one, whether AWSCURRENT already held it).
    finished: Mutex<Vec<(String, Option<String>, bool)>>,
}

impl Backend for Recorder {
    type Secret = String;

    fn parse(&self, raw: &SecretString) -> Result<String, BackendError> {
        let value: serde_json::Value = serde_json::from_str(raw.expose_secret())
            .map_err(|e| BackendError::InvalidJson(e.to_string()))?;
        Ok(value["password"].as_str().unwrap_or_default().to_owned())
    }

    fn serialize(&self, secret: &String) -> Result<SecretString, BackendError> {
        Ok(SecretString::from(
            json!({ "password": secret }).to_string(),
        ))
    }

    async fn create_pending(
        &self,
        current: &String,
        _ctx: &CreateContext<'_>,
    ) -> Result<String, BackendError> {
        Ok(format!("{current}-next"))
    }

    async fn set_pending(&self, _ctx: &SetContext<'_, String>) -> Result<SetOutcome, BackendError> {
        Ok(SetOutcome::Changed)
    }

    async fn test_pending(&self, _pending: &String) -> Result<(), BackendError> {
        Ok(())
    }

    fn has_finish_work(&self) -> bool {
        self.finish_work
    }

    async fn after_finish(
        &self,
        current: &String,
        previous: Option<&String>,
        _ctx: &FinishContext<'_>,
    ) -> Result<(), BackendError> {
        let now = self
            .secrets
            .get_value(&self.secret_id, None, AWSCURRENT)
            .await
            .expect("reading AWSCURRENT")
            .expect("a current value");
        let moved = self.parse(&now.value)? == *current;
        self.finished
            .lock()
            .expect("lock")
            .push((current.clone(), previous.cloned(), moved));
        if self.fail_finish {
            return Err(BackendError::Config(
                "clean-up failed on purpose".to_owned(),
            ));
        }
        Ok(())
    }
}

async fn rotate_in_process(world: &PostgresWorld, backend: &Recorder, secret: &str) {
    world.emulator.set_rotation_steps(&[]).await;
    world.rotate(secret).await.expect("staging");
    let token = world
        .version_with(secret, "AWSPENDING")
        .await
        .expect("pending");
    for step in Step::ALL {
        let event = RotationEvent::from_json(
            json!({"SecretId": secret, "ClientRequestToken": token, "Step": step.as_str()}),
        )
        .expect("event");
        if step == Step::Finish {
            world.emulator.reset_calls().await;
        }
        let outcome = rotate(backend, &backend.secrets, &event)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_eq!(outcome, StepOutcome::Done, "{step}");
    }
    assert_eq!(
        world.version_with(secret, "AWSCURRENT").await.as_deref(),
        Some(token.as_str())
    );
    assert!(world.version_with(secret, "AWSPENDING").await.is_none());
}

async fn recorder(world: &PostgresWorld, name: &str, finish_work: bool, fail: bool) -> Recorder {
    let secret_id = world
        .create_secret(name, &json!({"password": "start"}))
        .await;
    Recorder {
        finish_work,
        fail_finish: fail,
        secrets: SecretsManager::new(world.sm.clone()),
        secret_id,
        finished: Mutex::new(Vec::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_finish_runs_once_with_the_new_and_previous_values_after_awscurrent_moved() {
    let world = PostgresWorld::start("rotate-postgres").await;
    let backend = recorder(&world, "hook", true, false).await;
    rotate_in_process(&world, &backend, &backend.secret_id.clone()).await;
    assert_eq!(
        *backend.finished.lock().unwrap(),
        vec![("start-next".to_owned(), Some("start".to_owned()), true)]
    );
    // A second rotation: the previous value is the first rotation's.
    rotate_in_process(&world, &backend, &backend.secret_id.clone()).await;
    assert_eq!(
        backend.finished.lock().unwrap().last(),
        Some(&(
            "start-next-next".to_owned(),
            Some("start-next".to_owned()),
            true
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_clean_up_does_not_fail_finish_secret() {
    let world = PostgresWorld::start("rotate-postgres").await;
    let backend = recorder(&world, "hook-fails", true, true).await;
    rotate_in_process(&world, &backend, &backend.secret_id.clone()).await;
    assert_eq!(backend.finished.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_finish_work_finish_secret_reads_no_value() {
    let world = PostgresWorld::start("rotate-postgres").await;
    let backend = recorder(&world, "no-hook", false, false).await;
    rotate_in_process(&world, &backend, &backend.secret_id.clone()).await;
    assert!(backend.finished.lock().unwrap().is_empty());
    let calls = world.emulator.calls().await;
    assert!(
        calls["calls"].get("GetSecretValue").is_none(),
        "finishSecret read a value: {calls}"
    );
}
