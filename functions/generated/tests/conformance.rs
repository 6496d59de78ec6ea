//! End to end: `RotateSecret` on the emulator drives the real
//! `rotate-generated` binary behind the local Lambda runtime. No server
//! holds a generated value; the suite's "server" is the consumers, who
//! accept `AWSCURRENT` and `AWSPREVIOUS` (testkit's `generated` module,
//! which also says why each server-only scenario does not apply).

use testkit::generated::Consumers;

const FUNCTION: testkit::Function = testkit::Function {
    binary: "rotate-generated",
    default_exclude: rotate_generated::DEFAULT_EXCLUDE_CHARACTERS,
};

testkit::conformance_tests!(FUNCTION, Consumers);
