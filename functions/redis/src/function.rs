//! The function: one binary for both kinds of Redis users. A secret with
//! `user_arn` is an ElastiCache user's ([`crate::elasticache`]); any other
//! is an ACL user's ([`crate::backend`]).

use crate::backend::{RedisBackend, RedisEngine, DEFAULT_EXCLUDE_CHARACTERS};
use crate::elasticache::{
    ElastiCacheBackend, ElastiCacheSecret, ElastiCacheSettings, USER_ARN_FIELD,
};
use database::{DatabaseBackend, DatabaseSecret, DatabaseSettings};
use rotation::{Backend, BackendError, CreateContext, FinishContext, SetContext, SetOutcome};
use secrecy::{ExposeSecret, SecretString};

/// A Redis secret of either kind.
#[derive(Debug)]
pub enum RedisSecret {
    /// A Redis or Valkey ACL user on servers the team runs.
    Acl(DatabaseSecret),
    /// An ElastiCache RBAC user.
    ElastiCache(ElastiCacheSecret),
}

/// The rotation backend of `rotate-redis`.
#[derive(Debug)]
pub struct RedisFunction {
    /// ACL users.
    pub acl: RedisBackend,
    /// ElastiCache users.
    pub elasticache: ElastiCacheBackend,
}

/// The backend configured from the environment. Fails on an unusable
/// setting, naming it.
pub fn backend_from_env() -> Result<RedisFunction, BackendError> {
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = DatabaseSettings::from_lookup(DEFAULT_EXCLUDE_CHARACTERS, lookup)?;
    let elasticache = ElastiCacheSettings::from_lookup(lookup, DEFAULT_EXCLUDE_CHARACTERS)?;
    let engine = RedisEngine::from_lookup(lookup);
    Ok(RedisFunction {
        acl: DatabaseBackend::new(settings, engine),
        elasticache: ElastiCacheBackend::new(elasticache),
    })
}

/// Only whether the value names `user_arn`; no other field is copied.
#[derive(serde::Deserialize)]
struct Kind {
    user_arn: Option<serde::de::IgnoredAny>,
}

fn mixed() -> BackendError {
    BackendError::field(
        USER_ARN_FIELD,
        "is in one of the current and pending values but not the other",
    )
}

impl Backend for RedisFunction {
    type Secret = RedisSecret;

    fn parse(&self, raw: &SecretString) -> Result<RedisSecret, BackendError> {
        let elasticache = serde_json::from_str::<Kind>(raw.expose_secret())
            .map(|kind| kind.user_arn.is_some())
            .unwrap_or(false);
        if elasticache {
            ElastiCacheSecret::parse(raw).map(RedisSecret::ElastiCache)
        } else {
            self.acl.parse(raw).map(RedisSecret::Acl)
        }
    }

    fn serialize(&self, secret: &RedisSecret) -> Result<SecretString, BackendError> {
        match secret {
            RedisSecret::Acl(secret) => self.acl.serialize(secret),
            RedisSecret::ElastiCache(secret) => secret.to_json(),
        }
    }

    async fn create_pending(
        &self,
        current: &RedisSecret,
        ctx: &CreateContext<'_>,
    ) -> Result<RedisSecret, BackendError> {
        match current {
            RedisSecret::Acl(current) => self
                .acl
                .create_pending(current, ctx)
                .await
                .map(RedisSecret::Acl),
            RedisSecret::ElastiCache(current) => self
                .elasticache
                .create_pending(current, ctx)
                .await
                .map(RedisSecret::ElastiCache),
        }
    }

    async fn set_pending(
        &self,
        ctx: &SetContext<'_, RedisSecret>,
    ) -> Result<SetOutcome, BackendError> {
        match (ctx.current, ctx.pending) {
            (RedisSecret::Acl(current), RedisSecret::Acl(pending)) => {
                let parse = |raw: &SecretString| self.acl.parse(raw);
                let inner = SetContext::new(ctx.secret_arn, pending, current, ctx.secrets, &parse);
                self.acl.set_pending(&inner).await
            }
            (RedisSecret::ElastiCache(current), RedisSecret::ElastiCache(pending)) => {
                self.elasticache
                    .set_pending(ctx.secret_arn, current, pending)
                    .await?;
                Ok(SetOutcome::Changed)
            }
            _ => Err(mixed()),
        }
    }

    async fn test_pending(&self, pending: &RedisSecret) -> Result<(), BackendError> {
        match pending {
            RedisSecret::Acl(pending) => self.acl.test_pending(pending).await,
            RedisSecret::ElastiCache(pending) => {
                self.elasticache.test_pending(pending).await?;
                // An endpoint in the secret: the same login and `ACL WHOAMI`
                // on every node as for an ACL user.
                match &pending.endpoint {
                    Some(endpoint) => self.acl.test_pending(endpoint).await,
                    None => {
                        tracing::info!(
                            user = %pending.user.arn,
                            "the secret names no endpoint (host): the user is active, no login tried"
                        );
                        Ok(())
                    }
                }
            }
        }
    }

    /// `DISCARD_OLD_PASSWORD` (the engine's setting) for both kinds.
    fn has_finish_work(&self) -> bool {
        self.acl.has_finish_work()
    }

    async fn after_finish(
        &self,
        current: &RedisSecret,
        previous: Option<&RedisSecret>,
        ctx: &FinishContext<'_>,
    ) -> Result<(), BackendError> {
        match current {
            RedisSecret::Acl(current) => {
                let previous = match previous {
                    Some(RedisSecret::Acl(previous)) => Some(previous),
                    _ => None,
                };
                self.acl.after_finish(current, previous, ctx).await
            }
            RedisSecret::ElastiCache(current) if self.acl.engine.discard_old_password => {
                self.elasticache.after_finish(current).await
            }
            RedisSecret::ElastiCache(_) => Ok(()),
        }
    }
}
