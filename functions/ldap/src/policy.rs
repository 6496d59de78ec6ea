//! A directory's password policy refusing a change, said in words that
//! name the rule: the Password Policy response control
//! (draft-behera-ldap-password-policy, OpenLDAP's `ppolicy` overlay and
//! 389-DS), or else the server's result code and text (Active Directory's
//! `0000052D`).

use ldap3::asn1::{parse_tag, TagClass, PL};
use ldap3::controls::{Control, RawControl};
use ldap3::LdapResult;

/// The Password Policy control's OID, asked for on every change so the
/// server says which rule refused it.
pub const PASSWORD_POLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The request control: no value, not critical (a server without the
/// overlay ignores it).
pub fn request_control() -> RawControl {
    RawControl {
        ctype: PASSWORD_POLICY_OID.to_owned(),
        crit: false,
        val: None,
    }
}

/// The `error` of a Password Policy response, if the server sent one.
pub fn response_error(controls: &[Control]) -> Option<u64> {
    let value = controls
        .iter()
        .find(|Control(_, raw)| raw.ctype == PASSWORD_POLICY_OID)?
        .1
        .val
        .as_deref()?;
    // PasswordPolicyResponseValue ::= SEQUENCE {
    //     warning [0] CHOICE { … } OPTIONAL,
    //     error   [1] ENUMERATED { … } OPTIONAL }
    let (_, sequence) = parse_tag(value).ok()?;
    let PL::C(items) = sequence.payload else {
        return None;
    };
    items
        .into_iter()
        .find(|item| item.class == TagClass::Context && item.id == 1)
        .and_then(|item| match item.payload {
            PL::P(bytes) if !bytes.is_empty() && bytes.len() <= 8 => {
                Some(bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
            }
            _ => None,
        })
}

/// The rule behind a Password Policy `error` value, and what to do.
pub fn describe_policy_error(code: u64) -> &'static str {
    match code {
        0 => "the password has expired (pwdMaxAge): an administrator must reset it, or give the secret a `masterarn`",
        1 => "the account is locked (pwdLockout): unlock it, then rotate again",
        2 => "the password was reset and must be changed by the user first (pwdMustChange)",
        3 => "users may not change their own password (pwdAllowUserChange is FALSE): give the secret a `masterarn` naming an admin secret",
        4 => "the server wants the old password with the new one (pwdSafeModify)",
        5 => "the new password is not of the quality the policy asks (pwdCheckQuality): widen the function's password settings",
        6 => "the new password is shorter than the policy's minimum (pwdMinLength): raise PASSWORD_LENGTH",
        7 => "the password is too young to change (pwdMinAge): rotate again once the minimum age has passed",
        8 => "the new password is in the password history (pwdInHistory)",
        _ => "the password policy refused it",
    }
}

/// What a refused change means, from the result: the policy rule when the
/// server named one, else the server's own words with the result code's
/// meaning.
pub fn describe_refusal(result: &LdapResult) -> String {
    let text = result.text.trim();
    let server = if text.is_empty() {
        format!("result {} ({})", result.rc, result_name(result.rc))
    } else {
        format!("result {} ({}): {text}", result.rc, result_name(result.rc))
    };
    if let Some(code) = response_error(&result.ctrls) {
        return format!("{}; the server said {server}", describe_policy_error(code));
    }
    // Active Directory's policy refusal: 0000052D.
    if text.contains("0000052D") {
        return format!(
            "the domain's password policy refused it (minimum length, complexity, history or \
             minimum age); the server said {server}"
        );
    }
    server
}

/// The name RFC 4511 gives a result code.
pub fn result_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        13 => "confidentialityRequired",
        19 => "constraintViolation",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(value: Vec<u8>) -> Control {
        Control(
            None,
            RawControl {
                ctype: PASSWORD_POLICY_OID.to_owned(),
                crit: false,
                val: Some(value),
            },
        )
    }

    #[test]
    fn the_policy_error_is_read_from_the_response_control() {
        // SEQUENCE { [1] 7 } as OpenLDAP's ppolicy sends it (81 is the
        // primitive context tag 1).
        let too_young = control(vec![0x30, 0x03, 0x81, 0x01, 0x07]);
        assert_eq!(response_error(&[too_young]), Some(7));
        // A warning only: [0] { [1] graceAuthNsRemaining 2 }.
        let warning = control(vec![0x30, 0x05, 0xA0, 0x03, 0x81, 0x01, 0x02]);
        assert_eq!(response_error(&[warning]), None);
        // Both: the error is found after the warning.
        let both = control(vec![
            0x30, 0x08, 0xA0, 0x03, 0x80, 0x01, 0x05, 0x81, 0x01, 0x06,
        ]);
        assert_eq!(response_error(&[both]), Some(6));
        assert_eq!(response_error(&[control(vec![0xFF])]), None);
        assert_eq!(response_error(&[]), None);
    }

    #[test]
    fn refusals_name_the_rule_or_give_the_servers_words() {
        let result = LdapResult {
            rc: 19,
            matched: String::new(),
            text: "Password is too young to change".to_owned(),
            refs: vec![],
            ctrls: vec![control(vec![0x30, 0x03, 0x81, 0x01, 0x07])],
        };
        let text = describe_refusal(&result);
        assert!(
            text.contains("pwdMinAge") && text.contains("too young to change"),
            "{text}"
        );
        let ad = LdapResult {
            rc: 19,
            matched: String::new(),
            text: "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria".to_owned(),
            refs: vec![],
            ctrls: vec![],
        };
        let text = describe_refusal(&ad);
        assert!(
            text.contains("domain's password policy") && text.contains("constraintViolation"),
            "{text}"
        );
    }
}
