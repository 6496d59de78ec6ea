//! The `rotate-iam-keys` Lambda function.

// The nested async state machines of the driver and the SDK are deep.
#![recursion_limit = "256"]

// One invocation at a time: one thread, no cross-thread wake-ups.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::logging::init();
    // A bad configuration is reported at start, before any invocation.
    let backend = rotate_iam_keys::backend_from_env().inspect_err(|error| {
        tracing::error!(%error, "the function's configuration is unusable");
    })?;
    rotation::run(backend).await
}
