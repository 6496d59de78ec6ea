//! An in-memory Secrets Manager: a [`rotation::SecretsApi`] for unit tests
//! of the driver's decisions, which run in milliseconds with it. It keeps
//! the service's rules that the driver depends on: a version's value never
//! changes once stored, `AWSPENDING` and `AWSCURRENT` sit on one version at
//! a time, moving `AWSCURRENT` gives the old version `AWSPREVIOUS`, and a
//! stage moves only from the version named as holding it. It counts calls
//! by action and can fail the next call of an action, as a crash would.
//!
//! The end-to-end suite runs against moto through the launcher; this store
//! is for the driver alone.

use rotation::{ApiFuture, SecretMetadata, SecretValue, SecretsApi, SecretsManagerError};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone)]
struct Version {
    stages: Vec<String>,
    value: Option<String>,
}

#[derive(Debug, Clone)]
struct Secret {
    name: String,
    rotation_enabled: Option<bool>,
    versions: BTreeMap<String, Version>,
    tags: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct State {
    secrets: HashMap<String, Secret>,
    calls: BTreeMap<String, usize>,
    fail_next: HashMap<String, usize>,
    next_id: u64,
}

/// The in-memory store. Clones share the same state.
#[derive(Debug, Default, Clone)]
pub struct InMemorySecrets {
    state: Arc<Mutex<State>>,
}

fn error(operation: &'static str, secret: &str, message: impl Into<String>) -> SecretsManagerError {
    SecretsManagerError {
        operation,
        secret: secret.to_owned(),
        message: message.into(),
        out_of_time: false,
    }
}

impl InMemorySecrets {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// Creates a secret named `name` holding `value` (labelled `AWSCURRENT`);
    /// returns its ARN.
    pub fn create(&self, name: &str, value: &str) -> String {
        self.with(|state| {
            state.next_id += 1;
            let arn = format!(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-{:06}",
                state.next_id
            );
            let version = format!("v{}", state.next_id);
            let mut versions = BTreeMap::new();
            versions.insert(
                version,
                Version {
                    stages: vec![rotation::AWSCURRENT.to_owned()],
                    value: Some(value.to_owned()),
                },
            );
            state.secrets.insert(
                arn.clone(),
                Secret {
                    name: name.to_owned(),
                    rotation_enabled: Some(true),
                    versions,
                    tags: Vec::new(),
                },
            );
            arn
        })
    }

    /// What `RotateSecret` does before invoking the function: a new version
    /// `token` without a value, labelled `AWSPENDING`.
    pub fn start_rotation(&self, arn: &str, token: &str) {
        self.with(|state| {
            let secret = state.secrets.get_mut(arn).expect("a secret of this store");
            for version in secret.versions.values_mut() {
                version.stages.retain(|s| s != rotation::AWSPENDING);
            }
            secret.versions.insert(
                token.to_owned(),
                Version {
                    stages: vec![rotation::AWSPENDING.to_owned()],
                    value: None,
                },
            );
        });
    }

    /// Sets `RotationEnabled`.
    pub fn set_rotation_enabled(&self, arn: &str, enabled: Option<bool>) {
        self.with(|state| {
            if let Some(secret) = state.secrets.get_mut(arn) {
                secret.rotation_enabled = enabled;
            }
        });
    }

    /// Adds or removes a label behind the driver's back (as the service or an
    /// operator would).
    pub fn set_stage(&self, arn: &str, version: &str, stage: &str, present: bool) {
        self.with(|state| {
            let secret = state.secrets.get_mut(arn).expect("a secret of this store");
            let stages = &mut secret
                .versions
                .entry(version.to_owned())
                .or_default()
                .stages;
            stages.retain(|s| s != stage);
            if present {
                stages.push(stage.to_owned());
            }
        });
    }

    /// The labelled versions and their (sorted) labels.
    pub fn stages(&self, arn: &str) -> BTreeMap<String, Vec<String>> {
        self.with(|state| {
            state.secrets[arn]
                .versions
                .iter()
                .filter(|(_, v)| !v.stages.is_empty())
                .map(|(id, v)| {
                    let mut stages = v.stages.clone();
                    stages.sort();
                    (id.clone(), stages)
                })
                .collect()
        })
    }

    /// The version carrying `stage`.
    pub fn version_with(&self, arn: &str, stage: &str) -> Option<String> {
        self.stages(arn)
            .into_iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id)
    }

    /// The value of `version`, if it has one.
    pub fn value(&self, arn: &str, version: &str) -> Option<String> {
        self.with(|state| {
            state.secrets[arn]
                .versions
                .get(version)
                .and_then(|v| v.value.clone())
        })
    }

    /// Calls so far, by action (`DescribeSecret`, `GetSecretValue`, …).
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.with(|state| state.calls.clone())
    }

    /// All calls so far.
    pub fn total_calls(&self) -> usize {
        self.calls().values().sum()
    }

    /// Makes the next `count` calls of `action` fail (before they change
    /// anything), as a network error or a killed function would.
    pub fn fail_next(&self, action: &str, count: usize) {
        self.with(|state| {
            state.fail_next.insert(action.to_owned(), count);
        });
    }

    /// Counts the call; `Err` if it was told to fail.
    fn enter(
        &self,
        state: &mut State,
        operation: &'static str,
        secret: &str,
    ) -> Result<(), SecretsManagerError> {
        *state.calls.entry(operation.to_owned()).or_default() += 1;
        if let Some(left) = state.fail_next.get_mut(operation) {
            if *left > 0 {
                *left -= 1;
                return Err(error(operation, secret, "injected failure"));
            }
        }
        Ok(())
    }
}

fn find<'s>(state: &'s mut State, id: &str) -> Option<(&'s String, &'s mut Secret)> {
    state
        .secrets
        .iter_mut()
        .find(|(arn, secret)| *arn == id || secret.name == id)
}

impl SecretsApi for InMemorySecrets {
    fn describe<'a>(&'a self, secret_id: &'a str) -> ApiFuture<'a, SecretMetadata> {
        let result = self.with(|state| {
            self.enter(state, "DescribeSecret", secret_id)?;
            let (arn, secret) = find(state, secret_id)
                .ok_or_else(|| error("DescribeSecret", secret_id, "ResourceNotFoundException"))?;
            Ok(SecretMetadata {
                arn: arn.clone(),
                rotation_enabled: secret.rotation_enabled,
                versions: secret
                    .versions
                    .iter()
                    .filter(|(_, v)| !v.stages.is_empty())
                    .map(|(id, v)| (id.clone(), v.stages.clone()))
                    .collect(),
                tags: secret.tags.clone(),
            })
        });
        Box::pin(async move { result })
    }

    fn get_value<'a>(
        &'a self,
        secret_id: &'a str,
        version_id: Option<&'a str>,
        stage: Option<&'a str>,
    ) -> ApiFuture<'a, Option<SecretValue>> {
        let result = self.with(|state| {
            self.enter(state, "GetSecretValue", secret_id)?;
            let (_, secret) = find(state, secret_id)
                .ok_or_else(|| error("GetSecretValue", secret_id, "ResourceNotFoundException"))?;
            let found = secret.versions.iter().find(|(id, v)| {
                version_id.is_none_or(|wanted| *id == wanted)
                    && stage.is_none_or(|wanted| v.stages.iter().any(|s| s == wanted))
            });
            if found.is_none() && version_id.is_some() && stage.is_some() {
                // The service: both given but not the same version.
                let version_exists = secret.versions.contains_key(version_id.unwrap_or_default());
                if version_exists {
                    return Err(error(
                        "GetSecretValue",
                        secret_id,
                        "InvalidRequestException: the version does not carry the stage",
                    ));
                }
            }
            Ok(found.and_then(|(id, v)| {
                v.value.as_ref().map(|value| SecretValue {
                    version_id: id.clone(),
                    value: SecretString::from(value.clone()),
                })
            }))
        });
        Box::pin(async move { result })
    }

    fn put_pending<'a>(
        &'a self,
        secret_id: &'a str,
        token: &'a str,
        value: &'a SecretString,
        _rotation_token: Option<&'a str>,
    ) -> ApiFuture<'a, ()> {
        let result = self.with(|state| {
            self.enter(state, "PutSecretValue", secret_id)?;
            let (_, secret) = find(state, secret_id)
                .ok_or_else(|| error("PutSecretValue", secret_id, "ResourceNotFoundException"))?;
            let text = value.expose_secret().to_owned();
            if let Some(existing) = secret.versions.get(token).and_then(|v| v.value.as_ref()) {
                return if *existing == text {
                    Ok(())
                } else {
                    Err(error(
                        "PutSecretValue",
                        secret_id,
                        "ResourceExistsException: a version's value never changes",
                    ))
                };
            }
            for version in secret.versions.values_mut() {
                version.stages.retain(|s| s != rotation::AWSPENDING);
            }
            let version = secret.versions.entry(token.to_owned()).or_default();
            version.value = Some(text);
            version.stages.push(rotation::AWSPENDING.to_owned());
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn update_stage<'a>(
        &'a self,
        secret_id: &'a str,
        stage: &'a str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> ApiFuture<'a, ()> {
        let result = self.with(|state| {
            const OP: &str = "UpdateSecretVersionStage";
            self.enter(state, OP, secret_id)?;
            let (_, secret) =
                find(state, secret_id).ok_or_else(|| error(OP, secret_id, "ResourceNotFoundException"))?;
            let holder = secret
                .versions
                .iter()
                .find(|(_, v)| v.stages.iter().any(|s| s == stage))
                .map(|(id, _)| id.clone());
            if let Some(from) = remove_from {
                if holder.as_deref() != Some(from) {
                    return Err(error(OP, secret_id, "InvalidParameterException: the version does not carry the stage"));
                }
            }
            if let (Some(to), Some(holder)) = (move_to, holder.as_deref()) {
                if holder != to && remove_from != Some(holder) {
                    return Err(error(
                        OP,
                        secret_id,
                        "InvalidParameterException: the stage is on another version: name it in RemoveFromVersionId",
                    ));
                }
            }
            if let Some(to) = move_to {
                if !secret.versions.contains_key(to) {
                    return Err(error(OP, secret_id, "ResourceNotFoundException: no such version"));
                }
            }
            if let Some(from) = remove_from {
                if let Some(v) = secret.versions.get_mut(from) {
                    v.stages.retain(|s| s != stage);
                }
            }
            if let Some(to) = move_to {
                if stage == rotation::AWSCURRENT {
                    if let Some(old) = holder.as_deref().filter(|h| *h != to) {
                        for version in secret.versions.values_mut() {
                            version.stages.retain(|s| s != rotation::AWSPREVIOUS);
                        }
                        if let Some(v) = secret.versions.get_mut(old) {
                            v.stages.push(rotation::AWSPREVIOUS.to_owned());
                        }
                    }
                }
                if let Some(v) = secret.versions.get_mut(to) {
                    if !v.stages.iter().any(|s| s == stage) {
                        v.stages.push(stage.to_owned());
                    }
                }
            }
            Ok(())
        });
        Box::pin(async move { result })
    }
}
