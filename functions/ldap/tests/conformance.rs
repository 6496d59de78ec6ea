//! End to end: `RotateSecret` on the emulator drives the real
//! `rotate-ldap` binary, behind the local Lambda runtime, against a real
//! LDAP directories server. The conformance suite, plus what only LDAP directories has.

use testkit::ldap::EphemeralLdap;

const FUNCTION: testkit::Function = testkit::Function {
    binary: "rotate-ldap",
    default_exclude: rotate_ldap::DEFAULT_EXCLUDE_CHARACTERS,
};

testkit::conformance_tests!(FUNCTION, EphemeralLdap);
