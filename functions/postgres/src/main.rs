//! The `rotate-postgres` Lambda function.

use rotate_postgres::PostgresBackend;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::logging::init();
    // A bad configuration is reported at start, before any invocation.
    let backend = PostgresBackend::from_env().inspect_err(|error| {
        tracing::error!(%error, "the function's configuration is unusable");
    })?;
    rotation::run(backend).await
}
