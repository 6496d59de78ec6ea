//! The AWS SDK configuration every function and tool shares.
//!
//! One HTTP client for every AWS call (Secrets Manager, RDS, and whatever a
//! backend adds): hyper 1 with rustls 0.23 and the ring crypto provider,
//! the same TLS stack the database drivers use. The SDK's own default
//! clients are switched off in the workspace (they would link a second
//! hyper, a second rustls and the aws-lc provider), so a client made without
//! [`http_client`] has no way to send a request.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::Builder;
use std::sync::OnceLock;

/// The shared HTTP client: HTTPS (and plain HTTP, for local emulators),
/// rustls with ring, the system's root certificates.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https()
        })
        .clone()
}

/// The AWS configuration from the default chain (environment, profile,
/// container or instance role) with [`http_client`].
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}
