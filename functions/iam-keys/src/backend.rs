//! The rotation steps for IAM access keys.
//!
//! - createSecret creates the new key with IAM (IAM makes the secret key, so
//!   this is where the credential comes to exist) and stores it under
//!   `AWSPENDING`. IAM allows two keys per user: when the user has two
//!   already, the one that is safe to remove is removed first (see
//!   [`choose_removable`]); a key that is active and unknown to the secret
//!   is never removed.
//! - setSecret has nothing to set: the key is live once created.
//! - testSecret calls STS `GetCallerIdentity` signed with the pending key and
//!   checks that it answers with this user's ARN, retrying while IAM has not
//!   propagated the new key yet.
//! - finishSecret, after `AWSCURRENT` moved: `OLD_KEY_ACTION` keeps (the
//!   default), deactivates or deletes the old key.

use crate::secret::IamKeySecret;
use aws_sdk_iam::types::StatusType;
use aws_sdk_sts::error::ProvideErrorMetadata;
use rotation::{
    AwsApiError, Backend, BackendError, CreateContext, CredentialFailure, CredentialRole,
    FailureKind, FinishContext, SetContext, SetOutcome,
};
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, Instant, SystemTime};

/// The variable choosing what finishSecret does to the old key.
pub const OLD_KEY_ACTION_VAR: &str = "OLD_KEY_ACTION";
/// The variable bounding how long testSecret waits for a new key to work.
pub const NEW_KEY_WAIT_VAR: &str = "NEW_KEY_WAIT_SECONDS";
/// How long testSecret waits for a new key by default (IAM documents
/// eventual consistency of a few seconds; the step's own deadline bounds
/// it too).
pub const DEFAULT_NEW_KEY_WAIT: Duration = Duration::from_secs(30);

/// What finishSecret does to the key the rotation replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKeyAction {
    /// Leave it active until the next rotation removes it, for consumers
    /// that cache the key (the default).
    Keep,
    /// Make it inactive (it can be made active again by hand).
    Deactivate,
    /// Delete it.
    Delete,
}

impl OldKeyAction {
    /// The setting's word.
    pub fn as_str(self) -> &'static str {
        match self {
            OldKeyAction::Keep => "keep",
            OldKeyAction::Deactivate => "deactivate",
            OldKeyAction::Delete => "delete",
        }
    }
}

/// An unusable setting of the function.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `OLD_KEY_ACTION` is not one of its words.
    #[error("{OLD_KEY_ACTION_VAR} is {0:?}: use keep (the default), deactivate or delete")]
    OldKeyAction(String),
    /// `NEW_KEY_WAIT_SECONDS` is not a whole number of seconds.
    #[error("{NEW_KEY_WAIT_VAR} is {0:?}: use a whole number of seconds (default 30)")]
    NewKeyWait(String),
}

/// The function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// What finishSecret does to the old key.
    pub old_key_action: OldKeyAction,
    /// How long testSecret waits for a new key to work (within the step's
    /// deadline).
    pub new_key_wait: Duration,
}

impl Settings {
    /// The settings from `var` (an environment lookup). Empty means unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let old_key_action = match set(OLD_KEY_ACTION_VAR) {
            None => OldKeyAction::Keep,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "keep" => OldKeyAction::Keep,
                "deactivate" => OldKeyAction::Deactivate,
                "delete" => OldKeyAction::Delete,
                _ => return Err(ConfigError::OldKeyAction(value)),
            },
        };
        let new_key_wait = match set(NEW_KEY_WAIT_VAR) {
            None => DEFAULT_NEW_KEY_WAIT,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| ConfigError::NewKeyWait(value))?,
        };
        Ok(Self {
            old_key_action,
            new_key_wait,
        })
    }
}

/// The rotation backend for IAM access keys.
#[derive(Debug)]
pub struct IamKeysBackend {
    /// The function's settings.
    pub settings: Settings,
    sdk: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

/// The backend from the process environment.
pub fn backend_from_env() -> Result<IamKeysBackend, ConfigError> {
    Ok(IamKeysBackend::new(Settings::from_lookup(|name| {
        std::env::var(name).ok()
    })?))
}

/// One of a user's access keys, as `ListAccessKeys` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedKey {
    /// The key id.
    pub id: String,
    /// Whether it is active.
    pub active: bool,
    /// When IAM created it.
    pub created: Option<SystemTime>,
}

/// What createSecret knows when the user has two keys already.
#[derive(Debug, Clone, Default)]
pub struct KnownKeys<'a> {
    /// The key of `AWSCURRENT` (never removed).
    pub current: &'a str,
    /// The key of `AWSPREVIOUS`, when there is one.
    pub previous: Option<&'a str>,
    /// When this rotation's `AWSPENDING` version was created, when known:
    /// a key created after it (in the same second or later: IAM's times
    /// are whole seconds), unknown to the secret, is an orphan of an
    /// earlier attempt of this same rotation.
    pub rotation_started: Option<SystemTime>,
}

/// Why a key may be removed to make room for a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removable {
    /// It is the `AWSPREVIOUS` key.
    Previous,
    /// It is inactive.
    Inactive,
    /// An earlier attempt of this rotation made it after the rotation began
    /// and never stored it (or a concurrent attempt is about to).
    ThisRotations,
}

impl Removable {
    /// What the key is, for logs.
    pub fn describe(self) -> &'static str {
        match self {
            Removable::Previous => "the AWSPREVIOUS key",
            Removable::Inactive => "an inactive key",
            Removable::ThisRotations => {
                "a key an earlier attempt of this rotation created and never stored"
            }
        }
    }
}

/// What making room for the new key came to.
enum Room {
    /// The user has room for one more key.
    Made,
    /// Another attempt of this rotation stored its pending key meanwhile:
    /// that value, to store again unchanged (an idempotent PutSecretValue).
    StoredMeanwhile(IamKeySecret),
}

/// How long a key this rotation made may still be stored by the attempt
/// that made it: the longest an invocation lives (this one's budget at its
/// start, plus the margin kept from Lambda's deadline; Lambda's 15-minute
/// maximum outside Lambda), and 2 s for IAM's whole-second times.
fn orphan_grace() -> Duration {
    rotation::deadline::current()
        .map(|d| d.budget() + rotation::deadline::SAFETY_MARGIN)
        .unwrap_or(Duration::from_secs(15 * 60))
        + Duration::from_secs(2)
}

/// The key to remove so that a new one can be created, and why; or `None`
/// when no key may be removed. Never the current key; never an active key
/// the secret does not know, unless an earlier attempt of this rotation
/// made it.
pub fn choose_removable<'k>(
    keys: &'k [ListedKey],
    known: &KnownKeys<'_>,
) -> Option<(&'k ListedKey, Removable)> {
    let others = || keys.iter().filter(|k| k.id != known.current);
    if let Some(previous) = known.previous.filter(|p| *p != known.current) {
        if let Some(key) = others().find(|k| k.id == previous) {
            return Some((key, Removable::Previous));
        }
    }
    if let Some(key) = others().find(|k| !k.active) {
        return Some((key, Removable::Inactive));
    }
    // IAM gives a key's creation time in whole seconds: a key made in the
    // second the rotation began counts as made after it.
    let started = whole_seconds(known.rotation_started?);
    others()
        .find(|k| k.created.is_some_and(|created| created >= started))
        .map(|key| (key, Removable::ThisRotations))
}

/// `time` without its fraction of a second.
fn whole_seconds(time: SystemTime) -> SystemTime {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(_) => time,
    }
}

impl IamKeysBackend {
    /// A backend with `settings`; the AWS configuration is loaded on first use.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            sdk: tokio::sync::OnceCell::new(),
        }
    }

    async fn sdk(&self) -> &aws_config::SdkConfig {
        self.sdk
            .get_or_init(|| async { rotation::aws::sdk_config().await })
            .await
    }

    async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(self.sdk().await)
    }

    async fn list_keys(
        &self,
        iam: &aws_sdk_iam::Client,
        user: &str,
    ) -> Result<Vec<ListedKey>, BackendError> {
        let out = iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsApiError::from_sdk("IAM", "ListAccessKeys", user, e))?;
        Ok(out
            .access_key_metadata()
            .iter()
            .filter_map(|k| {
                Some(ListedKey {
                    id: k.access_key_id()?.to_owned(),
                    active: k.status() == Some(&StatusType::Active),
                    created: k.create_date().and_then(|d| SystemTime::try_from(*d).ok()),
                })
            })
            .collect())
    }

    /// Makes room for a new key when `user` has two: removes the one
    /// [`choose_removable`] picks, or refuses, changing nothing.
    async fn make_room(
        &self,
        iam: &aws_sdk_iam::Client,
        current: &IamKeySecret,
        keys: &[ListedKey],
        ctx: &CreateContext<'_>,
    ) -> Result<Room, BackendError> {
        let user = &current.user_name;
        let previous = ctx
            .previous(IamKeySecret::parse)
            .await
            .map(|previous| previous.access_key_id.clone());
        let mut known = KnownKeys {
            current: &current.access_key_id,
            previous: previous.as_deref(),
            rotation_started: None,
        };
        if choose_removable(keys, &known).is_none() {
            // Only now, off the normal path: when did this rotation begin?
            known.rotation_started = ctx
                .secrets
                .version_created(ctx.secret_arn, ctx.version)
                .await?;
        }
        let Some((key, why)) = choose_removable(keys, &known) else {
            let unknown: Vec<&str> = keys
                .iter()
                .filter(|k| k.id != current.access_key_id)
                .map(|k| k.id.as_str())
                .collect();
            return Err(BackendError::operation(
                format!("creating a new access key for IAM user {user:?}"),
                format!(
                    "the user has two access keys already (IAM's limit) and none may be removed: \
                     {} {} active and this secret does not know {} (neither AWSCURRENT's nor \
                     AWSPREVIOUS's key, nor made by this rotation). Nothing was changed. \
                     Delete or deactivate {}, or store it in the secret, then rotate again",
                    unknown.join(" and "),
                    if unknown.len() == 1 { "is" } else { "are" },
                    if unknown.len() == 1 { "it" } else { "them" },
                    if unknown.len() == 1 {
                        "that key"
                    } else {
                        "one of them"
                    },
                ),
            ));
        };
        if why == Removable::ThisRotations {
            if let Some(stored) = self.wait_for_orphan(key, user, ctx).await? {
                return Ok(Room::StoredMeanwhile(stored));
            }
        }
        tracing::info!(
            user = %user,
            access_key_id = %key.id,
            "removing {} to make room for the new key (IAM allows two per user)",
            why.describe()
        );
        delete_key(iam, user, &key.id).await?;
        Ok(Room::Made)
    }

    /// A key this rotation made and did not store may belong to an attempt
    /// that died (remove it) or to one still running, about to store it
    /// (never remove it). Until the key is older than any attempt can live,
    /// waits for the pending value: `Some` when another attempt stored it
    /// meanwhile, `None` once the key may go. Fails, removing nothing, when
    /// this invocation's time runs out first.
    async fn wait_for_orphan(
        &self,
        key: &ListedKey,
        user: &str,
        ctx: &CreateContext<'_>,
    ) -> Result<Option<IamKeySecret>, BackendError> {
        let grace = orphan_grace();
        let age = || {
            key.created
                .and_then(|created| SystemTime::now().duration_since(created).ok())
                .unwrap_or_default()
        };
        let mut logged = false;
        loop {
            if let Some(stored) = ctx
                .secrets
                .get_value(ctx.secret_arn, Some(ctx.version), rotation::AWSPENDING)
                .await?
            {
                tracing::info!(
                    access_key_id = %key.id,
                    "another attempt of this rotation stored its pending key meanwhile: keeping it"
                );
                return Ok(Some(IamKeySecret::parse(&stored.value)?));
            }
            if age() >= grace {
                return Ok(None);
            }
            let left = rotation::deadline::current()
                .map(|d| d.remaining())
                .unwrap_or(Duration::MAX);
            if left < Duration::from_millis(1500) {
                return Err(BackendError::operation(
                    format!("making room for a new access key of IAM user {user:?}"),
                    format!(
                        "{} was made {} s ago by another attempt of this rotation, which may                          still store it; it is removed once it is {} s old (no attempt lives                          longer). Nothing was removed: rotate again later",
                        key.id,
                        age().as_secs(),
                        grace.as_secs()
                    ),
                ));
            }
            if !logged {
                tracing::info!(
                    access_key_id = %key.id,
                    age_s = age().as_secs(),
                    grace_s = grace.as_secs(),
                    "a key of this rotation that no version holds: waiting for the attempt that                      made it to store it, or for it to be old enough to remove"
                );
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(500).min(left / 2)).await;
        }
    }
}

async fn delete_key(iam: &aws_sdk_iam::Client, user: &str, key: &str) -> Result<(), BackendError> {
    match iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(key)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: what was wanted.
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
        Err(e) => {
            Err(
                AwsApiError::from_sdk("IAM", "DeleteAccessKey", &format!("{key} of {user}"), e)
                    .into(),
            )
        }
    }
}

/// The user name an IAM user's ARN ends with (`arn:aws:iam::1:user/path/name`).
fn user_of_arn(arn: &str) -> Option<&str> {
    let (_, resource) = arn.split_once(":user/")?;
    resource.rsplit('/').next()
}

impl Backend for IamKeysBackend {
    type Secret = IamKeySecret;

    fn parse(&self, raw: &SecretString) -> Result<IamKeySecret, BackendError> {
        IamKeySecret::parse(raw)
    }

    fn serialize(&self, secret: &IamKeySecret) -> Result<SecretString, BackendError> {
        secret.serialize()
    }

    async fn create_pending(
        &self,
        current: &IamKeySecret,
        ctx: &CreateContext<'_>,
    ) -> Result<IamKeySecret, BackendError> {
        let iam = self.iam().await;
        let user = current.user_name.as_str();
        let keys = self.list_keys(&iam, user).await?;
        if !keys.iter().any(|k| k.id == current.access_key_id) {
            tracing::warn!(
                user,
                access_key_id = %current.access_key_id,
                "the secret's current key is not one of the user's keys: it was deleted, or the \
                 secret names another user"
            );
        }
        if let Some(field) = current.session_token_field() {
            tracing::warn!(
                field,
                "field `{field}` is kept, but a session token belongs to no IAM user's key: \
                 consumers that send it with the new key are refused; remove the field"
            );
        }
        if keys.len() >= 2 {
            if let Room::StoredMeanwhile(stored) = self.make_room(&iam, current, &keys, ctx).await?
            {
                return Ok(stored);
            }
        }
        let out = iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsApiError::from_sdk("IAM", "CreateAccessKey", user, e))?;
        let Some(created) = out.access_key() else {
            return Err(BackendError::Internal(format!(
                "IAM CreateAccessKey for {user:?} answered without a key"
            )));
        };
        let id = created.access_key_id().to_owned();
        let secret = SecretString::from(created.secret_access_key().to_owned());
        tracing::info!(user, access_key_id = %id, "created the new access key");
        rotation::crash_point("after-create-key");
        Ok(current.with_key(id, secret))
    }

    fn has_set_work(&self) -> bool {
        false
    }

    async fn set_pending(
        &self,
        _ctx: &SetContext<'_, IamKeySecret>,
    ) -> Result<SetOutcome, BackendError> {
        // Never called: has_set_work is false (the key is live once created).
        Ok(SetOutcome::AlreadySet)
    }

    async fn test_pending(&self, pending: &IamKeySecret) -> Result<(), BackendError> {
        let credentials = aws_sdk_sts::config::Credentials::new(
            pending.access_key_id.clone(),
            pending.secret_access_key.expose_secret(),
            None,
            None,
            "pending-access-key",
        );
        let config = aws_sdk_sts::config::Builder::from(self.sdk().await)
            .credentials_provider(credentials)
            .build();
        let sts = aws_sdk_sts::Client::from_conf(config);
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        let failure = |kind: FailureKind, detail: String| {
            BackendError::Credentials(vec![CredentialFailure {
                role: CredentialRole::Pending,
                target: pending.target(),
                kind,
                detail,
            }])
        };
        loop {
            match sts.get_caller_identity().send().await {
                Ok(identity) => {
                    let arn = identity.arn().unwrap_or_default();
                    return match user_of_arn(arn) {
                        Some(user) if user == pending.user_name => Ok(()),
                        _ => Err(failure(
                            FailureKind::Permission,
                            format!(
                                "STS GetCallerIdentity answered {arn:?}, not IAM user {:?}: the key belongs to someone else",
                                pending.user_name
                            ),
                        )),
                    };
                }
                // A new key is eventually consistent: IAM may not know it
                // yet everywhere. Anything else is final.
                Err(e) if e.code() == Some("InvalidClientTokenId") => {
                    let budget_left = rotation::deadline::current()
                        .map(|d| d.remaining())
                        .unwrap_or(Duration::MAX);
                    let waited = started.elapsed();
                    if waited + pause >= self.settings.new_key_wait
                        || pause + Duration::from_secs(1) >= budget_left
                    {
                        return Err(failure(
                            FailureKind::Authentication,
                            format!(
                                "STS does not know the key after {:.1} s of retries ({}): \
                                 IAM has not made it usable yet, or it was deleted",
                                waited.as_secs_f64(),
                                aws_sdk_sts::error::DisplayErrorContext(&e)
                            ),
                        ));
                    }
                    tracing::info!(
                        waited_ms = waited.as_millis() as u64,
                        "the new key is not usable yet; retrying"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(4));
                }
                Err(e) => {
                    let kind = match e.code() {
                        Some("SignatureDoesNotMatch" | "IncompleteSignature") => {
                            FailureKind::Authentication
                        }
                        Some("AccessDenied") => FailureKind::Permission,
                        _ if e.as_service_error().is_none() => FailureKind::Unreachable,
                        _ => FailureKind::Other,
                    };
                    return Err(failure(
                        kind,
                        format!(
                            "STS GetCallerIdentity: {}",
                            aws_sdk_sts::error::DisplayErrorContext(&e)
                        ),
                    ));
                }
            }
        }
    }

    fn has_finish_work(&self) -> bool {
        self.settings.old_key_action != OldKeyAction::Keep
    }

    async fn after_finish(
        &self,
        current: &IamKeySecret,
        previous: Option<&IamKeySecret>,
        _ctx: &FinishContext<'_>,
    ) -> Result<(), BackendError> {
        let Some(previous) = previous else {
            return Ok(());
        };
        if previous.access_key_id == current.access_key_id
            || previous.user_name != current.user_name
        {
            return Ok(());
        }
        let iam = self.iam().await;
        let user = current.user_name.as_str();
        let old = previous.access_key_id.as_str();
        match self.settings.old_key_action {
            OldKeyAction::Keep => Ok(()),
            OldKeyAction::Deactivate => {
                match iam
                    .update_access_key()
                    .user_name(user)
                    .access_key_id(old)
                    .status(StatusType::Inactive)
                    .send()
                    .await
                {
                    Ok(_) => {
                        tracing::info!(user, access_key_id = %old, "deactivated the old key");
                        Ok(())
                    }
                    Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
                    Err(e) => Err(AwsApiError::from_sdk(
                        "IAM",
                        "UpdateAccessKey",
                        &format!("{old} of {user}"),
                        e,
                    )
                    .into()),
                }
            }
            OldKeyAction::Delete => {
                delete_key(&iam, user, old).await?;
                tracing::info!(user, access_key_id = %old, "deleted the old key");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, active: bool, created_secs: u64) -> ListedKey {
        ListedKey {
            id: id.into(),
            active,
            created: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(created_secs)),
        }
    }

    #[test]
    fn the_removable_key_is_previous_then_inactive_then_this_rotations_orphan() {
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let mut known = KnownKeys {
            current: "CUR",
            previous: Some("PREV"),
            rotation_started: None,
        };
        let keys = [key("CUR", true, 10), key("PREV", true, 5)];
        assert_eq!(
            choose_removable(&keys, &known).map(|(key, _)| key.id.as_str()),
            Some("PREV")
        );

        let keys = [key("CUR", true, 10), key("OFF", false, 5)];
        assert_eq!(
            choose_removable(&keys, &known).map(|(key, _)| key.id.as_str()),
            Some("OFF")
        );

        // An active unknown key made before this rotation: never.
        let keys = [key("CUR", true, 10), key("HUMAN", true, 50)];
        known.rotation_started = Some(started);
        assert_eq!(choose_removable(&keys, &known), None);
        // One made after it began: this rotation's orphan.
        let keys = [key("CUR", true, 10), key("ORPHAN", true, 150)];
        assert_eq!(
            choose_removable(&keys, &known).map(|(key, _)| key.id.as_str()),
            Some("ORPHAN")
        );
        // Without the date, nothing unknown is removed.
        known.rotation_started = None;
        assert_eq!(choose_removable(&keys, &known), None);
        // The current key, even inactive or "previous", never.
        let known = KnownKeys {
            current: "CUR",
            previous: Some("CUR"),
            rotation_started: Some(started),
        };
        let keys = [key("CUR", false, 500), key("HUMAN", true, 50)];
        assert_eq!(choose_removable(&keys, &known), None);
    }

    #[test]
    fn settings_read_their_words_and_refuse_others() {
        let none = Settings::from_lookup(|_| None).expect("defaults");
        assert_eq!(none.old_key_action, OldKeyAction::Keep);
        assert_eq!(none.new_key_wait, DEFAULT_NEW_KEY_WAIT);
        let set = Settings::from_lookup(|n| match n {
            OLD_KEY_ACTION_VAR => Some("Delete".into()),
            NEW_KEY_WAIT_VAR => Some("5".into()),
            _ => None,
        })
        .expect("set");
        assert_eq!(set.old_key_action, OldKeyAction::Delete);
        assert_eq!(set.new_key_wait, Duration::from_secs(5));
        let error = Settings::from_lookup(|n| (n == OLD_KEY_ACTION_VAR).then(|| "remove".into()))
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("OLD_KEY_ACTION") && error.contains("keep"),
            "{error}"
        );
    }

    #[test]
    fn the_user_is_the_last_part_of_the_arn() {
        assert_eq!(user_of_arn("arn:aws:iam::1:user/ci"), Some("ci"));
        assert_eq!(user_of_arn("arn:aws:iam::1:user/team/a/ci"), Some("ci"));
        assert_eq!(user_of_arn("arn:aws:sts::1:assumed-role/r/s"), None);
    }
}
