//! End to end: `RotateSecret` on the emulator drives the real
//! `rotate-redis` binary, behind the local Lambda runtime, against a real
//! Redis and Valkey server. The conformance suite, plus what only Redis and Valkey has.

use testkit::redis::EphemeralRedis;

const FUNCTION: testkit::Function = testkit::Function {
    binary: "rotate-redis",
    default_exclude: rotate_redis::DEFAULT_EXCLUDE_CHARACTERS,
};

testkit::conformance_tests!(FUNCTION, EphemeralRedis);
