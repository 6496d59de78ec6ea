//! The four-step driver and the trait a backend implements.

use crate::client::{SecretMetadata, SecretsManager, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use crate::error::{BackendError, CredentialRole, RotationError};
use crate::event::{RotationEvent, Step};
use crate::operator::{Check, PreflightContext};
use secrecy::SecretString;
use std::fmt;
use std::future::Future;

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// The step did its work.
    Done,
    /// The token's version is already `AWSCURRENT`: nothing to do.
    AlreadyCurrent,
    /// createSecret: the pending version already holds a value.
    PendingExists,
    /// setSecret: the backend already accepts the pending credential.
    AlreadySet,
    /// setSecret: the backend has nothing to set (its consumers read the
    /// secret itself, or the credential is live once created).
    NothingToSet,
    /// finishSecret: the token's version was already `AWSCURRENT` but still
    /// `AWSPENDING` too (an earlier finishSecret stopped between its two
    /// label moves); this one removed `AWSPENDING`, completing the rotation.
    PendingCleared,
}

impl StepOutcome {
    /// A short word for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Done => "done",
            StepOutcome::AlreadyCurrent => "skipped: version is already AWSCURRENT",
            StepOutcome::PendingExists => "skipped: pending value already exists",
            StepOutcome::AlreadySet => "skipped: pending credential already works",
            StepOutcome::NothingToSet => "skipped: nothing to set for this kind of secret",
            StepOutcome::PendingCleared => {
                "done: cleared AWSPENDING left on the AWSCURRENT version"
            }
        }
    }

    /// Whether a finishSecret with this outcome completed a rotation (moved
    /// `AWSCURRENT`, or finished an interrupted finishSecret's work).
    pub fn completes_rotation(self) -> bool {
        matches!(self, StepOutcome::Done | StepOutcome::PendingCleared)
    }
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What setSecret did to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The backend now accepts the pending credential.
    Changed,
    /// It already did; nothing was changed.
    AlreadySet,
}

/// Parses a stored value (the backend's [`Backend::parse`]).
type ParseFn<'a, S> = dyn Fn(&SecretString) -> Result<S, BackendError> + Send + Sync + 'a;

/// Everything setSecret may use.
pub struct SetContext<'a, S> {
    /// The secret's ARN.
    pub secret_arn: &'a str,
    /// The value under `AWSPENDING` for this rotation.
    pub pending: &'a S,
    /// The value under `AWSCURRENT`.
    pub current: &'a S,
    /// The Secrets Manager client, for backends that read other secrets (the
    /// admin secret of an alternating-users rotation).
    pub secrets: &'a SecretsManager,
    parse: &'a ParseFn<'a, S>,
    previous: tokio::sync::OnceCell<Option<S>>,
}

impl<'a, S: Send + Sync> SetContext<'a, S> {
    /// A context; `parse` reads the `AWSPREVIOUS` value when it is asked for.
    pub fn new(
        secret_arn: &'a str,
        pending: &'a S,
        current: &'a S,
        secrets: &'a SecretsManager,
        parse: &'a ParseFn<'a, S>,
    ) -> Self {
        Self {
            secret_arn,
            pending,
            current,
            secrets,
            parse,
            previous: tokio::sync::OnceCell::new(),
        }
    }

    /// The value under `AWSPREVIOUS`, when it exists and can be read; used to
    /// recover from a rotation that stopped half-way. Read on first use only,
    /// so a rotation that does not need it makes no call for it. An
    /// unreadable value is logged and treated as absent.
    pub async fn previous(&self) -> Option<&S> {
        self.previous
            .get_or_init(|| previous_value(self.secrets, self.secret_arn, None, self.parse))
            .await
            .as_ref()
    }
}

/// The value under `AWSPREVIOUS` (of version `version`, when DescribeSecret
/// named it: then a value this process already holds is not read again),
/// parsed with `parse`, when it exists and can be read: an unreadable or
/// unparsable value is logged and treated as absent (it only ever serves a
/// recovery or a clean-up).
async fn previous_value<S>(
    secrets: &SecretsManager,
    secret_arn: &str,
    version: Option<&str>,
    parse: impl Fn(&SecretString) -> Result<S, BackendError>,
) -> Option<S> {
    match secrets.get_value(secret_arn, version, AWSPREVIOUS).await {
        Ok(Some(value)) => match parse(&value.value) {
            Ok(previous) => Some(previous),
            Err(error) => {
                tracing::warn!(%error, "ignoring the AWSPREVIOUS value");
                None
            }
        },
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, "could not read the AWSPREVIOUS value");
            None
        }
    }
}

/// Everything createSecret may use.
pub struct CreateContext<'a> {
    /// The secret's ARN.
    pub secret_arn: &'a str,
    /// The version being created (the event's `ClientRequestToken`, labelled
    /// `AWSPENDING`).
    pub version: &'a str,
    /// The version labelled `AWSPREVIOUS`, when there is one.
    pub previous_version: Option<&'a str>,
    /// The Secrets Manager client.
    pub secrets: &'a SecretsManager,
}

impl CreateContext<'_> {
    /// The value under `AWSPREVIOUS`, parsed with `parse`, when it exists
    /// and can be read (an unreadable value is logged and treated as
    /// absent; a value this process already holds is not read again). For
    /// a backend that must tell the previous credential from others, e.g.
    /// IAM's key to remove.
    pub async fn previous<S>(
        &self,
        parse: impl Fn(&SecretString) -> Result<S, BackendError>,
    ) -> Option<S> {
        previous_value(self.secrets, self.secret_arn, self.previous_version, parse).await
    }
}

/// Everything the clean-up after finishSecret may use.
pub struct FinishContext<'a> {
    /// The secret's ARN.
    pub secret_arn: &'a str,
    /// The Secrets Manager client (e.g. to read an admin secret the
    /// clean-up logs in with).
    pub secrets: &'a SecretsManager,
}

/// A system whose credential a secret holds: a database, a cache, an API.
///
/// The driver runs the protocol (pre-checks, labels, reading and storing
/// values); a backend only knows its own secret format and how to make its
/// server accept a credential. Single-user, alternating-users and non-database
/// backends differ only in these methods.
pub trait Backend: Send + Sync {
    /// A parsed, validated secret value. Its `Debug` must not show secrets.
    type Secret: Send + Sync;

    /// Parses and validates a stored value. Errors name the field and never
    /// quote a secret.
    fn parse(&self, raw: &SecretString) -> Result<Self::Secret, BackendError>;

    /// Serialises a value for storing, carrying unknown fields over unchanged.
    fn serialize(&self, secret: &Self::Secret) -> Result<SecretString, BackendError>;

    /// createSecret: the pending value derived from the current one (a new
    /// password; for alternating users, the other user of the pair).
    fn create_pending(
        &self,
        current: &Self::Secret,
        ctx: &CreateContext<'_>,
    ) -> impl Future<Output = Result<Self::Secret, BackendError>> + Send;

    /// setSecret: make the backend accept the pending credential. Must be
    /// idempotent and report [`SetOutcome::AlreadySet`] when it already does.
    fn set_pending(
        &self,
        ctx: &SetContext<'_, Self::Secret>,
    ) -> impl Future<Output = Result<SetOutcome, BackendError>> + Send;

    /// Whether [`Backend::set_pending`] has work to do. When false,
    /// setSecret reads no value and reports
    /// [`StepOutcome::NothingToSet`]: for a secret whose consumers read it
    /// from Secrets Manager (generated keys and tokens), or a credential that
    /// is live as soon as createSecret made it. The default: true.
    fn has_set_work(&self) -> bool {
        true
    }

    /// testSecret: log in with the pending credential and run a real query.
    fn test_pending(
        &self,
        pending: &Self::Secret,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Whether the backend accepts `secret`, the value labelled as `role`
    /// says, now (log in and run a real query), changing nothing: the
    /// answer to an operator's probe ([`crate::operator`]). Errors name
    /// `role`. The default: [`Backend::test_pending`].
    fn accepts(
        &self,
        secret: &Self::Secret,
        _role: CredentialRole,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.test_pending(secret)
    }

    /// The backend's preflight checks, changing nothing: would a rotation
    /// of `current` succeed? (TLS, logging in, the privileges the strategy
    /// needs, the admin secret.) The driver has already checked Secrets
    /// Manager and parsed `current`. The default: one check, that the
    /// backend [`accepts`](Backend::accepts) `current`.
    fn preflight(
        &self,
        current: &Self::Secret,
        _ctx: &PreflightContext<'_>,
    ) -> impl Future<Output = Vec<Check>> + Send {
        async move {
            vec![Check::from_result(
                "the backend accepts AWSCURRENT",
                self.accepts(current, CredentialRole::Current)
                    .await
                    .map(|()| "logged in and ran a real query".to_owned()),
            )]
        }
    }

    /// Whether [`Backend::after_finish`] has work to do. When false (the
    /// default), finishSecret reads no value.
    fn has_finish_work(&self) -> bool {
        false
    }

    /// finishSecret, after `AWSCURRENT` moved to the new value `current`:
    /// clean-up on the backend, such as removing exactly the old credential
    /// (MySQL's retained password, a Redis user's `<old` password, IAM's
    /// previous key). `previous` is the value that was `AWSCURRENT` until
    /// this step (now `AWSPREVIOUS`), `None` when the secret had none or it
    /// no longer parses.
    ///
    /// The contract:
    /// - it runs once per finishSecret that moved the labels (not when the
    ///   version was already `AWSCURRENT`), after both label moves;
    /// - it may fail: the failure is logged as an error (with its
    ///   `failure_kind`) and finishSecret still succeeds, since the labels
    ///   are already right and the old credential only keeps working
    ///   longer than asked;
    /// - the next rotation retries it implicitly: a backend's
    ///   [`Backend::set_pending`] must leave the backend accepting exactly
    ///   what it means to (e.g. exactly the current and the pending
    ///   password), whether or not the last clean-up ran. The conformance
    ///   suite checks that a rotation after any failure ends settled, with
    ///   `AWSCURRENT` logging in.
    fn after_finish(
        &self,
        _current: &Self::Secret,
        _previous: Option<&Self::Secret>,
        _ctx: &FinishContext<'_>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async { Ok(()) }
    }
}

/// Environment variable for fault-injection tests only: when it names a crash
/// point (`after-set`: the backend accepted the new password, setSecret has
/// not returned; `before-store`: createSecret made the pending value and
/// has not stored it), the process exits there at once, as a killed Lambda
/// would.
pub const CRASH_POINT_VAR: &str = "ROTATION_TEST_CRASH_POINT";

/// Exits the process if [`CRASH_POINT_VAR`] names `point`; a backend may
/// name its own points (e.g. `after-create-key`: the new credential exists,
/// it is not stored yet).
pub fn crash_point(point: &str) {
    if std::env::var(CRASH_POINT_VAR).is_ok_and(|v| v == point) {
        tracing::error!(
            point,
            "{CRASH_POINT_VAR}: exiting here, as a killed function would"
        );
        std::process::exit(137);
    }
}

/// Runs one step of `event` for `backend`. Once the secret's ARN is known it
/// is recorded as `secret_arn` in the current span (the invocation's), so
/// every later line carries the full ARN rather than the id in the event.
pub async fn rotate<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    event: &RotationEvent,
) -> Result<StepOutcome, RotationError> {
    let meta = secrets.describe(&event.secret_id).await?;
    tracing::Span::current().record("secret_arn", meta.arn.as_str());
    let token = event.client_request_token.as_str();

    // The pre-checks, from one DescribeSecret.
    if meta.rotation_enabled == Some(false) {
        return Err(RotationError::RotationDisabled { secret: meta.arn });
    }
    if !meta.versions.contains_key(token) {
        return Err(RotationError::UnknownVersion {
            secret: meta.arn,
            version: token.to_owned(),
        });
    }
    if meta.has_stage(token, AWSCURRENT) {
        if event.step == Step::Finish && meta.has_stage(token, AWSPENDING) {
            // A finishSecret that stopped after moving AWSCURRENT: finish clearing.
            secrets
                .update_stage(&meta.arn, AWSPENDING, None, Some(token))
                .await?;
            return Ok(StepOutcome::PendingCleared);
        }
        return Ok(StepOutcome::AlreadyCurrent);
    }
    if !meta.has_stage(token, AWSPENDING) {
        return Err(RotationError::NotPending {
            secret: meta.arn,
            version: token.to_owned(),
        });
    }

    match event.step {
        Step::Create => create_secret(backend, secrets, &meta, event).await,
        Step::Set => set_secret(backend, secrets, &meta, token).await,
        Step::Test => test_secret(backend, secrets, &meta, token).await,
        Step::Finish => finish_secret(backend, secrets, &meta, token).await,
    }
}

async fn read_current<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    meta: &SecretMetadata,
) -> Result<B::Secret, RotationError> {
    // By version id (from DescribeSecret), so a value this process already
    // read in this rotation is not read again.
    let value = secrets
        .get_value(&meta.arn, meta.version_with(AWSCURRENT), AWSCURRENT)
        .await?
        .ok_or_else(|| RotationError::NoCurrentVersion {
            secret: meta.arn.clone(),
        })?;
    backend
        .parse(&value.value)
        .map_err(|source| RotationError::InvalidSecret {
            secret: meta.arn.clone(),
            stage: AWSCURRENT,
            source,
        })
}

async fn read_pending<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    meta: &SecretMetadata,
    token: &str,
) -> Result<B::Secret, RotationError> {
    let value = secrets
        .get_value(&meta.arn, Some(token), AWSPENDING)
        .await?
        .ok_or_else(|| RotationError::MissingValue {
            secret: meta.arn.clone(),
            stage: AWSPENDING,
            version: token.to_owned(),
        })?;
    backend
        .parse(&value.value)
        .map_err(|source| RotationError::InvalidSecret {
            secret: meta.arn.clone(),
            stage: AWSPENDING,
            source,
        })
}

/// The value of the version that is `AWSCURRENT` before finishSecret moves
/// it, for [`Backend::after_finish`]. Not having it is no reason to fail the
/// step: the clean-up then gets `None`.
async fn read_previous<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    meta: &SecretMetadata,
    version: Option<&str>,
) -> Option<B::Secret> {
    let version = version?;
    match secrets
        .get_value(&meta.arn, Some(version), AWSCURRENT)
        .await
    {
        Ok(Some(value)) => match backend.parse(&value.value) {
            Ok(previous) => Some(previous),
            Err(error) => {
                tracing::warn!(%error, "the previous value does not parse: the clean-up gets none");
                None
            }
        },
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, "could not read the previous value: the clean-up gets none");
            None
        }
    }
}

fn step_error(meta: &SecretMetadata, step: Step, source: BackendError) -> RotationError {
    RotationError::Step {
        secret: meta.arn.clone(),
        step: step.as_str(),
        source,
    }
}

async fn create_secret<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    meta: &SecretMetadata,
    event: &RotationEvent,
) -> Result<StepOutcome, RotationError> {
    let token = event.client_request_token.as_str();
    let current = read_current(backend, secrets, meta).await?;
    if secrets
        .get_value(&meta.arn, Some(token), AWSPENDING)
        .await?
        .is_some()
    {
        return Ok(StepOutcome::PendingExists);
    }
    let ctx = CreateContext {
        secret_arn: &meta.arn,
        version: token,
        previous_version: meta.version_with(AWSPREVIOUS),
        secrets,
    };
    let pending = backend
        .create_pending(&current, &ctx)
        .await
        .map_err(|e| step_error(meta, Step::Create, e))?;
    let value = backend
        .serialize(&pending)
        .map_err(|e| step_error(meta, Step::Create, e))?;
    crash_point("before-store");
    secrets
        .put_pending(&meta.arn, token, &value, event.rotation_token.as_deref())
        .await?;
    Ok(StepOutcome::Done)
}

async fn set_secret<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    meta: &SecretMetadata,
    token: &str,
) -> Result<StepOutcome, RotationError> {
    if !backend.has_set_work() {
        return Ok(StepOutcome::NothingToSet);
    }
    let pending = read_pending(backend, secrets, meta, token).await?;
    let current = read_current(backend, secrets, meta).await?;
    let parse = |raw: &SecretString| backend.parse(raw);
    let ctx = SetContext::new(&meta.arn, &pending, &current, secrets, &parse);
    match backend
        .set_pending(&ctx)
        .await
        .map_err(|e| step_error(meta, Step::Set, e))?
    {
        SetOutcome::Changed => {
            crash_point("after-set");
            Ok(StepOutcome::Done)
        }
        SetOutcome::AlreadySet => Ok(StepOutcome::AlreadySet),
    }
}

async fn test_secret<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    meta: &SecretMetadata,
    token: &str,
) -> Result<StepOutcome, RotationError> {
    let pending = read_pending(backend, secrets, meta, token).await?;
    backend
        .test_pending(&pending)
        .await
        .map_err(|e| step_error(meta, Step::Test, e))?;
    Ok(StepOutcome::Done)
}

async fn finish_secret<B: Backend>(
    backend: &B,
    secrets: &SecretsManager,
    meta: &SecretMetadata,
    token: &str,
) -> Result<StepOutcome, RotationError> {
    let old_current = meta.version_with(AWSCURRENT);
    // Read before the labels move: afterwards the value is no longer
    // AWSPENDING. Values are cached by version, so on a warm instance these
    // are no extra calls.
    let finish_work = if backend.has_finish_work() {
        let new_current = read_pending(backend, secrets, meta, token).await?;
        let previous = read_previous(backend, secrets, meta, old_current).await;
        Some((new_current, previous))
    } else {
        None
    };
    // Move AWSCURRENT first: if the function stops between the two calls, a
    // re-run sees the token as current and only clears AWSPENDING.
    secrets
        .update_stage(&meta.arn, AWSCURRENT, Some(token), old_current)
        .await?;
    secrets
        .update_stage(&meta.arn, AWSPENDING, None, Some(token))
        .await?;
    if let Some((current, previous)) = finish_work {
        let ctx = FinishContext {
            secret_arn: &meta.arn,
            secrets,
        };
        if let Err(error) = backend
            .after_finish(&current, previous.as_ref(), &ctx)
            .await
        {
            tracing::error!(
                %error,
                failure_kind = error.failure_kind(),
                "the rotation finished, but the clean-up after it failed; the next rotation replaces what it left"
            );
        }
    }
    Ok(StepOutcome::Done)
}
