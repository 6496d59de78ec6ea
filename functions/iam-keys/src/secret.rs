//! The stored value: an IAM user's name and one access key pair.
//!
//! ```json
//! {"UserName": "ci-deployer", "AccessKeyId": "AKIA…", "SecretAccessKey": "…"}
//! ```
//!
//! The names of the AWS CLI's credentials file are accepted too
//! (`aws_access_key_id`, `aws_secret_access_key`), and a rotation keeps
//! whichever form the secret uses. Every other field is carried over
//! unchanged.

use database::secret::{check_text, parse_json_object, required_string};
use rotation::json::{zeroize_fields, zeroize_strings};
use rotation::BackendError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::fmt;
use zeroize::Zeroize;

/// The field naming the IAM user.
pub const USER_NAME: &str = "UserName";

/// The longest IAM user name (IAM's own limit).
const MAX_USER_NAME: usize = 64;
/// The longest access key id (IAM's own limit).
const MAX_KEY_ID: usize = 128;
/// The longest secret access key accepted (AWS's are 40 characters).
const MAX_SECRET_KEY: usize = 1024;

/// Which field names a secret uses for its key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `AccessKeyId` / `SecretAccessKey`, as IAM's `CreateAccessKey` answers.
    Iam,
    /// `aws_access_key_id` / `aws_secret_access_key`, as the AWS CLI's
    /// credentials file names them.
    CredentialsFile,
}

impl Naming {
    /// The field of the access key id.
    pub fn key_id_field(self) -> &'static str {
        match self {
            Naming::Iam => "AccessKeyId",
            Naming::CredentialsFile => "aws_access_key_id",
        }
    }

    /// The field of the secret access key.
    pub fn secret_key_field(self) -> &'static str {
        match self {
            Naming::Iam => "SecretAccessKey",
            Naming::CredentialsFile => "aws_secret_access_key",
        }
    }
}

/// A parsed secret value. `Debug` shows the user and the key id, never the
/// secret access key.
pub struct IamKeySecret {
    /// Every field but the secret access key, kept as stored.
    fields: Map<String, Value>,
    /// The IAM user whose key this is.
    pub user_name: String,
    /// The access key id (an identifier, not a secret).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretString,
    /// The field names the secret uses.
    pub naming: Naming,
}

impl fmt::Debug for IamKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamKeySecret")
            .field("user_name", &self.user_name)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[REDACTED]")
            .field("naming", &self.naming)
            .finish()
    }
}

/// Checks an IAM user name: 1 to 64 of `A-Z a-z 0-9 + = , . @ _ -`.
fn check_user_name(name: &str) -> Result<(), BackendError> {
    check_text(USER_NAME, name, MAX_USER_NAME)?;
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        return Err(BackendError::field(
            USER_NAME,
            format!(
                "is not an IAM user name: {bad:?} is not allowed (IAM allows letters, digits and + = , . @ _ -)"
            ),
        ));
    }
    Ok(())
}

impl IamKeySecret {
    /// Reads a stored value. Errors name the field, never a value.
    pub fn parse(raw: &SecretString) -> Result<Self, BackendError> {
        let mut fields = parse_json_object(raw)?;
        let naming = match (
            fields.contains_key(Naming::Iam.key_id_field())
                || fields.contains_key(Naming::Iam.secret_key_field()),
            fields.contains_key(Naming::CredentialsFile.key_id_field())
                || fields.contains_key(Naming::CredentialsFile.secret_key_field()),
        ) {
            (true, true) => return Err(BackendError::field(
                Naming::CredentialsFile.key_id_field(),
                "is there beside `AccessKeyId`/`SecretAccessKey`: a secret holds one key pair, \
                     under one of the two namings",
            )),
            (false, true) => Naming::CredentialsFile,
            _ => Naming::Iam,
        };
        let user_name = required_string(&fields, USER_NAME)?;
        check_user_name(&user_name)?;
        let key_id_field = naming.key_id_field();
        let access_key_id = required_string(&fields, key_id_field)?;
        check_text(key_id_field, &access_key_id, MAX_KEY_ID)?;
        if !access_key_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(BackendError::field(
                key_id_field,
                "is not an access key id (letters and digits only, e.g. AKIA…)",
            ));
        }
        let secret_key_field = naming.secret_key_field();
        let mut secret_access_key = match fields.remove(secret_key_field) {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => {
                return Err(BackendError::field(secret_key_field, "is missing"))
            }
            Some(mut other) => {
                zeroize_strings(&mut other);
                zeroize_fields(&mut fields);
                return Err(BackendError::field(secret_key_field, "must be a string"));
            }
        };
        let checked = if secret_access_key.trim().is_empty() {
            Err(BackendError::field(secret_key_field, "is empty"))
        } else {
            check_text(secret_key_field, &secret_access_key, MAX_SECRET_KEY)
        };
        if let Err(error) = checked {
            secret_access_key.zeroize();
            zeroize_fields(&mut fields);
            return Err(error);
        }
        Ok(Self {
            fields,
            user_name,
            access_key_id,
            secret_access_key: SecretString::from(secret_access_key),
            naming,
        })
    }

    /// This secret with another key pair (same user, same naming, the other
    /// fields kept).
    pub fn with_key(&self, access_key_id: String, secret_access_key: SecretString) -> Self {
        let mut fields = self.fields.clone();
        fields.insert(
            self.naming.key_id_field().to_owned(),
            Value::String(access_key_id.clone()),
        );
        Self {
            fields,
            user_name: self.user_name.clone(),
            access_key_id,
            secret_access_key,
            naming: self.naming,
        }
    }

    /// The text to store; the temporary copy of the secret key is zeroed.
    pub fn serialize(&self) -> Result<SecretString, BackendError> {
        let mut fields = self.fields.clone();
        let secret_key_field = self.naming.secret_key_field();
        fields.insert(
            secret_key_field.to_owned(),
            Value::String(self.secret_access_key.expose_secret().to_owned()),
        );
        let json = serde_json::to_string(&fields)
            .map_err(|e| BackendError::Internal(format!("cannot serialise the secret: {e}")));
        zeroize_fields(&mut fields);
        json.map(SecretString::from)
    }

    /// A kept field holding a session token (`SessionToken`,
    /// `aws_session_token`), which temporary credentials have and an IAM
    /// user's key never does.
    pub fn session_token_field(&self) -> Option<&'static str> {
        ["SessionToken", "aws_session_token"]
            .into_iter()
            .find(|field| self.fields.contains_key(*field))
    }

    /// Where the key is used, for errors and logs: the key id and the user.
    pub fn target(&self) -> String {
        format!(
            "access key {} of IAM user {:?}",
            self.access_key_id, self.user_name
        )
    }
}

impl Drop for IamKeySecret {
    fn drop(&mut self) {
        zeroize_fields(&mut self.fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<IamKeySecret, BackendError> {
        IamKeySecret::parse(&SecretString::from(value.to_string()))
    }

    #[test]
    fn both_namings_parse_and_keep_their_form_and_other_fields() {
        let iam = parse(json!({"UserName": "ci", "AccessKeyId": "AKIAOLD", "SecretAccessKey": "s3cr3t-old", "note": "kept"}))
            .expect("IAM naming");
        assert_eq!(iam.naming, Naming::Iam);
        let next = iam.with_key("AKIANEW".into(), SecretString::from("s3cr3t-new"));
        let stored: Value =
            serde_json::from_str(next.serialize().expect("json").expose_secret()).expect("json");
        assert_eq!(
            stored,
            json!({"UserName": "ci", "AccessKeyId": "AKIANEW", "SecretAccessKey": "s3cr3t-new", "note": "kept"})
        );

        let file = parse(json!({"UserName": "ci", "aws_access_key_id": "AKIAOLD", "aws_secret_access_key": "s3cr3t-old"}))
            .expect("credentials-file naming");
        assert_eq!(file.naming, Naming::CredentialsFile);
        let next = file.with_key("AKIANEW".into(), SecretString::from("s3cr3t-new"));
        let stored: Value =
            serde_json::from_str(next.serialize().expect("json").expose_secret()).expect("json");
        assert_eq!(
            stored,
            json!({"UserName": "ci", "aws_access_key_id": "AKIANEW", "aws_secret_access_key": "s3cr3t-new"})
        );
    }

    #[test]
    fn bad_values_name_the_field_and_never_the_secret_key() {
        let cases = [
            (
                json!({"AccessKeyId": "AKIA1", "SecretAccessKey": "hidden-1"}),
                "field `UserName` is missing",
            ),
            (
                json!({"UserName": "ci", "SecretAccessKey": "hidden-1"}),
                "field `AccessKeyId` is missing",
            ),
            (
                json!({"UserName": "ci", "AccessKeyId": "AKIA1"}),
                "field `SecretAccessKey` is missing",
            ),
            (
                json!({"UserName": "ci", "AccessKeyId": "AKIA1", "SecretAccessKey": ["hidden-1"]}),
                "field `SecretAccessKey` must be a string",
            ),
            (
                json!({"UserName": "c i", "AccessKeyId": "AKIA1", "SecretAccessKey": "hidden-1"}),
                "field `UserName` is not an IAM user name",
            ),
            (
                json!({"UserName": "ci", "AccessKeyId": "AKIA-1", "SecretAccessKey": "hidden-1"}),
                "field `AccessKeyId` is not an access key id",
            ),
            (
                json!({"UserName": "ci", "AccessKeyId": "AKIA1", "SecretAccessKey": "hidden-1", "aws_access_key_id": "AKIA2"}),
                "one key pair",
            ),
            (
                json!({"UserName": "ci", "aws_access_key_id": "AKIA1"}),
                "field `aws_secret_access_key` is missing",
            ),
        ];
        for (value, expected) in cases {
            let error = parse(value.clone()).expect_err("refused").to_string();
            assert!(error.contains(expected), "{value}: {error}");
            assert!(!error.contains("hidden-1"), "{error}");
        }
        let debug = format!(
            "{:?}",
            parse(json!({"UserName": "ci", "AccessKeyId": "AKIA1", "SecretAccessKey": "hidden-1"}))
                .expect("good")
        );
        assert!(
            debug.contains("AKIA1") && !debug.contains("hidden-1"),
            "{debug}"
        );
    }
}
