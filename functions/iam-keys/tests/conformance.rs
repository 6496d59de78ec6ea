//! End to end: `RotateSecret` on the emulator drives the real
//! `rotate-iam-keys` binary, behind the local Lambda runtime, against IAM
//! and STS (a second moto server with signatures checked). The conformance
//! suite; what only IAM keys have is in `keys.rs`.

use testkit::iam_keys::IamAccount;

const FUNCTION: testkit::Function = testkit::Function {
    binary: "rotate-iam-keys",
    default_exclude: rotate_iam_keys::DEFAULT_EXCLUDE_CHARACTERS,
};

testkit::conformance_tests!(FUNCTION, IamAccount);
