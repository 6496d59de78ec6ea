//! Password policy and generation.
//!
//! The policy has the options of Secrets Manager's `GetRandomPassword` and reads
//! them from the environment variables AWS's own rotation functions use
//! (`PASSWORD_LENGTH`, `EXCLUDE_CHARACTERS`, `EXCLUDE_NUMBERS`,
//! `EXCLUDE_PUNCTUATION`, `EXCLUDE_UPPERCASE`, `EXCLUDE_LOWERCASE`,
//! `INCLUDE_SPACE`, `REQUIRE_EACH_INCLUDED_TYPE`), with the same defaults.
//!
//! Passwords are drawn from the operating system's CSPRNG in-process: no
//! network call, no extra IAM permission. Every character is chosen uniformly
//! from the allowed set (no modulo bias), and the result lives in a
//! [`SecretString`] that redacts `Debug` and zeroes its memory on drop.
//!
//! ```
//! use password::PasswordPolicy;
//! use secrecy::ExposeSecret;
//!
//! let policy = PasswordPolicy { length: 20, exclude_punctuation: true, ..PasswordPolicy::default() };
//! let password = policy.generate().expect("a valid policy");
//! assert_eq!(password.expose_secret().chars().count(), 20);
//! ```

use rand::rngs::SysRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::CryptoRng;
use secrecy::SecretString;
use zeroize::Zeroize;

/// Lower-case ASCII letters, as `GetRandomPassword` uses them.
pub const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
/// Upper-case ASCII letters.
pub const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Decimal digits.
pub const NUMBERS: &str = "0123456789";
/// The punctuation set of `GetRandomPassword`: every printable ASCII character
/// that is neither a letter, a digit nor a space.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
/// The longest password `GetRandomPassword` produces, and so the longest we do.
pub const MAX_LENGTH: usize = 4096;
/// The length AWS's rotation functions use when `PASSWORD_LENGTH` is unset.
pub const DEFAULT_LENGTH: usize = 32;

/// Why a policy cannot produce a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The requested length is zero.
    #[error("password length must be at least 1")]
    ZeroLength,
    /// The requested length is over [`MAX_LENGTH`].
    #[error("password length {0} is over the maximum of {MAX_LENGTH}")]
    TooLong(usize),
    /// Every character class was excluded, so nothing is left to choose from.
    #[error("the password policy excludes every character: nothing is left to choose from")]
    NothingToChooseFrom,
    /// Each included type is required, but the password is too short to hold one of each.
    #[error("password length {length} is too short to include one character of each of the {classes} included types")]
    TooShortForRequiredTypes {
        /// The requested length.
        length: usize,
        /// How many character types are included.
        classes: usize,
    },
    /// An environment variable holds a value that cannot be read.
    #[error("environment variable {name}: {reason}")]
    InvalidSetting {
        /// The variable's name.
        name: &'static str,
        /// What is wrong with its value (the value itself is not secret and is quoted).
        reason: String,
    },
}

/// Why a password is not one its policy produces ([`PasswordPolicy::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyMismatch {
    /// It has another number of characters.
    #[error("it has {found} characters where the policy asks for {expected}")]
    Length {
        /// The policy's length.
        expected: usize,
        /// The password's.
        found: usize,
    },
    /// It holds a character the policy excludes.
    #[error("it holds a character the policy excludes")]
    CharacterNotAllowed,
    /// Each included type is required and some are missing.
    #[error("it lacks {missing} of the character types the policy requires")]
    MissingType {
        /// How many required types have no character in it.
        missing: usize,
    },
}

/// The options of `GetRandomPassword`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Number of characters (1 to [`MAX_LENGTH`]); default 32.
    pub length: usize,
    /// Characters that must never appear.
    pub exclude_characters: String,
    /// Leave out the digits `0-9`.
    pub exclude_numbers: bool,
    /// Leave out the punctuation characters ([`PUNCTUATION`]).
    pub exclude_punctuation: bool,
    /// Leave out `A-Z`.
    pub exclude_uppercase: bool,
    /// Leave out `a-z`.
    pub exclude_lowercase: bool,
    /// Allow the space character.
    pub include_space: bool,
    /// Include at least one character of each included type (lower, upper,
    /// digit, punctuation); default true.
    pub require_each_included_type: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            length: DEFAULT_LENGTH,
            exclude_characters: String::new(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            include_space: false,
            require_each_included_type: true,
        }
    }
}

/// Reads a boolean the way AWS's rotation functions do: `true`, `1`, `y` and
/// `yes` in any case are true; anything else is false.
pub fn parse_bool(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "y" | "yes"
    )
}

impl PasswordPolicy {
    /// The policy from the process environment. `default_exclude` is the value
    /// of `EXCLUDE_CHARACTERS` when the variable is unset (each backend has its
    /// own, as AWS's functions do).
    pub fn from_env(default_exclude: &str) -> Result<Self, PolicyError> {
        Self::from_lookup(|name| std::env::var(name).ok(), default_exclude)
    }

    /// The policy from any variable source: `lookup` returns a variable's value
    /// or `None` when it is unset. Used by [`PasswordPolicy::from_env`] and by tests.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_exclude: &str,
    ) -> Result<Self, PolicyError> {
        let flag = |name: &str, default: bool| lookup(name).map_or(default, |v| parse_bool(&v));
        let length = match lookup("PASSWORD_LENGTH") {
            None => DEFAULT_LENGTH,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .map_err(|_| PolicyError::InvalidSetting {
                    name: "PASSWORD_LENGTH",
                    reason: format!("{raw:?} is not a whole number"),
                })?,
        };
        let policy = Self {
            length,
            exclude_characters: lookup("EXCLUDE_CHARACTERS")
                .unwrap_or_else(|| default_exclude.to_owned()),
            exclude_numbers: flag("EXCLUDE_NUMBERS", false),
            exclude_punctuation: flag("EXCLUDE_PUNCTUATION", false),
            exclude_uppercase: flag("EXCLUDE_UPPERCASE", false),
            exclude_lowercase: flag("EXCLUDE_LOWERCASE", false),
            include_space: flag("INCLUDE_SPACE", false),
            require_each_included_type: flag("REQUIRE_EACH_INCLUDED_TYPE", true),
        };
        policy.validate()?;
        Ok(policy)
    }

    /// The character classes this policy draws from, each already stripped of
    /// excluded characters; empty classes are left out. The space, when
    /// included, is its own class but is never required.
    fn classes(&self) -> Vec<(Vec<char>, bool)> {
        let keep = |set: &str| -> Vec<char> {
            set.chars()
                .filter(|c| !self.exclude_characters.contains(*c))
                .collect()
        };
        let mut classes = Vec::new();
        for (set, excluded) in [
            (LOWERCASE, self.exclude_lowercase),
            (UPPERCASE, self.exclude_uppercase),
            (NUMBERS, self.exclude_numbers),
            (PUNCTUATION, self.exclude_punctuation),
        ] {
            if !excluded {
                let chars = keep(set);
                if !chars.is_empty() {
                    classes.push((chars, true));
                }
            }
        }
        if self.include_space {
            let chars = keep(" ");
            if !chars.is_empty() {
                classes.push((chars, false));
            }
        }
        classes
    }

    /// Checks that the policy can produce a password.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.length == 0 {
            return Err(PolicyError::ZeroLength);
        }
        if self.length > MAX_LENGTH {
            return Err(PolicyError::TooLong(self.length));
        }
        let classes = self.classes();
        if classes.is_empty() {
            return Err(PolicyError::NothingToChooseFrom);
        }
        let required = classes.iter().filter(|(_, required)| *required).count();
        if self.require_each_included_type && required > self.length {
            return Err(PolicyError::TooShortForRequiredTypes {
                length: self.length,
                classes: required,
            });
        }
        Ok(())
    }

    /// The set of characters a password of this policy may contain.
    pub fn alphabet(&self) -> Vec<char> {
        self.classes().into_iter().flat_map(|(c, _)| c).collect()
    }

    /// Checks that `password` is one this policy could have produced: its
    /// length, every character from the allowed set and, when each included
    /// type is required, one character of each. The error says which rule
    /// failed and never quotes the password.
    pub fn check(&self, password: &str) -> Result<(), PolicyMismatch> {
        let length = password.chars().count();
        if length != self.length {
            return Err(PolicyMismatch::Length {
                expected: self.length,
                found: length,
            });
        }
        let classes = self.classes();
        if password
            .chars()
            .any(|c| !classes.iter().any(|(class, _)| class.contains(&c)))
        {
            return Err(PolicyMismatch::CharacterNotAllowed);
        }
        if self.require_each_included_type {
            let missing = classes
                .iter()
                .filter(|(class, required)| {
                    *required && !password.chars().any(|c| class.contains(&c))
                })
                .count();
            if missing > 0 {
                return Err(PolicyMismatch::MissingType { missing });
            }
        }
        Ok(())
    }

    /// A new password from the operating system's CSPRNG.
    pub fn generate(&self) -> Result<SecretString, PolicyError> {
        self.generate_with(&mut rand::rand_core::UnwrapErr(SysRng))
    }

    /// A new password from the given cryptographic RNG (tests pass a seeded one).
    pub fn generate_with<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<SecretString, PolicyError> {
        self.validate()?;
        let classes = self.classes();
        let alphabet: Vec<char> = classes
            .iter()
            .flat_map(|(c, _)| c.iter().copied())
            .collect();
        let mut chars: Vec<char> = Vec::with_capacity(self.length);
        if self.require_each_included_type {
            for (class, required) in &classes {
                if *required {
                    // `choose` draws an unbiased index; the class is never empty.
                    if let Some(c) = class.choose(rng) {
                        chars.push(*c);
                    }
                }
            }
        }
        while chars.len() < self.length {
            if let Some(c) = alphabet.choose(rng) {
                chars.push(*c);
            }
        }
        // A uniform Fisher-Yates shuffle, so the required characters sit anywhere.
        chars.shuffle(rng);
        let password: String = chars.iter().collect();
        chars.zeroize();
        Ok(SecretString::from(password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_match_aws_functions() {
        let policy = PasswordPolicy::from_lookup(env(&[]), ":/@\"'\\").unwrap();
        assert_eq!(policy.length, 32);
        assert_eq!(policy.exclude_characters, ":/@\"'\\");
        assert!(policy.require_each_included_type);
        assert!(!policy.exclude_numbers && !policy.exclude_punctuation);
        assert!(!policy.exclude_uppercase && !policy.exclude_lowercase);
        assert!(!policy.include_space);
    }

    #[test]
    fn environment_overrides_defaults() {
        let policy = PasswordPolicy::from_lookup(
            env(&[
                ("PASSWORD_LENGTH", "12"),
                ("EXCLUDE_CHARACTERS", "abc"),
                ("EXCLUDE_NUMBERS", "YES"),
                ("EXCLUDE_PUNCTUATION", "1"),
                ("EXCLUDE_UPPERCASE", "y"),
                ("EXCLUDE_LOWERCASE", "no"),
                ("INCLUDE_SPACE", "True"),
                ("REQUIRE_EACH_INCLUDED_TYPE", "false"),
            ]),
            "",
        )
        .unwrap();
        assert_eq!(
            policy,
            PasswordPolicy {
                length: 12,
                exclude_characters: "abc".into(),
                exclude_numbers: true,
                exclude_punctuation: true,
                exclude_uppercase: true,
                exclude_lowercase: false,
                include_space: true,
                require_each_included_type: false,
            }
        );
    }

    #[test]
    fn booleans_read_like_aws() {
        for t in ["true", "TRUE", "1", "y", "Y", "yes", "Yes", " yes "] {
            assert!(parse_bool(t), "{t:?} should be true");
        }
        for f in ["false", "0", "n", "no", "", "on", "2"] {
            assert!(!parse_bool(f), "{f:?} should be false");
        }
    }

    #[test]
    fn unreadable_length_names_the_variable() {
        let err = PasswordPolicy::from_lookup(env(&[("PASSWORD_LENGTH", "long")]), "").unwrap_err();
        assert!(err.to_string().contains("PASSWORD_LENGTH"), "{err}");
    }

    #[test]
    fn impossible_policies_are_refused_clearly() {
        let zero = PasswordPolicy {
            length: 0,
            ..Default::default()
        };
        assert_eq!(zero.generate().unwrap_err(), PolicyError::ZeroLength);

        let long = PasswordPolicy {
            length: 4097,
            ..Default::default()
        };
        assert_eq!(long.generate().unwrap_err(), PolicyError::TooLong(4097));
        let max = PasswordPolicy {
            length: 4096,
            ..Default::default()
        };
        assert_eq!(max.generate().unwrap().expose_secret().len(), 4096);

        let nothing = PasswordPolicy {
            exclude_numbers: true,
            exclude_punctuation: true,
            exclude_uppercase: true,
            exclude_lowercase: true,
            ..Default::default()
        };
        assert_eq!(
            nothing.generate().unwrap_err(),
            PolicyError::NothingToChooseFrom
        );

        let all_excluded_by_list = PasswordPolicy {
            exclude_characters: format!("{LOWERCASE}{UPPERCASE}{NUMBERS}{PUNCTUATION}"),
            ..Default::default()
        };
        assert_eq!(
            all_excluded_by_list.generate().unwrap_err(),
            PolicyError::NothingToChooseFrom
        );

        let short = PasswordPolicy {
            length: 3,
            ..Default::default()
        };
        let err = short.generate().unwrap_err();
        assert_eq!(
            err,
            PolicyError::TooShortForRequiredTypes {
                length: 3,
                classes: 4
            }
        );
        assert!(err.to_string().contains("too short"));
    }

    #[test]
    fn a_class_emptied_by_the_exclude_list_is_not_required() {
        let policy = PasswordPolicy {
            length: 3,
            exclude_characters: NUMBERS.into(),
            ..Default::default()
        };
        let password = policy.generate().unwrap();
        assert!(!password.expose_secret().chars().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn only_space_is_allowed_when_everything_else_is_excluded() {
        let policy = PasswordPolicy {
            length: 5,
            exclude_numbers: true,
            exclude_punctuation: true,
            exclude_uppercase: true,
            exclude_lowercase: true,
            include_space: true,
            ..Default::default()
        };
        assert_eq!(policy.generate().unwrap().expose_secret(), "     ");
    }

    #[test]
    fn debug_output_does_not_reveal_the_password() {
        let password = PasswordPolicy::default().generate().unwrap();
        let shown = format!("{password:?}");
        assert!(!shown.contains(password.expose_secret()), "{shown}");
    }

    #[test]
    fn characters_are_spread_uniformly() {
        // 10 digits, 100_000 draws: each digit should appear ~10_000 times.
        // A chi-square over 9 degrees of freedom stays under 40 with
        // overwhelming probability for a uniform source (p < 1e-5).
        let policy = PasswordPolicy {
            length: 1000,
            exclude_punctuation: true,
            exclude_uppercase: true,
            exclude_lowercase: true,
            require_each_included_type: false,
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut counts = [0u64; 10];
        for _ in 0..100 {
            let p = policy.generate_with(&mut rng).unwrap();
            for c in p.expose_secret().chars() {
                counts[(c as u8 - b'0') as usize] += 1;
            }
        }
        let expected = 10_000.0;
        let chi2: f64 = counts
            .iter()
            .map(|&n| (n as f64 - expected).powi(2) / expected)
            .sum();
        assert!(
            chi2 < 40.0,
            "chi-square {chi2} too high for counts {counts:?}"
        );
    }

    fn policies() -> impl Strategy<Value = PasswordPolicy> {
        (
            1usize..200,
            proptest::collection::vec(proptest::char::range('!', '~'), 0..40),
            any::<[bool; 6]>(),
        )
            .prop_map(|(length, exclude, flags)| PasswordPolicy {
                length,
                exclude_characters: exclude.into_iter().collect(),
                exclude_numbers: flags[0],
                exclude_punctuation: flags[1],
                exclude_uppercase: flags[2],
                exclude_lowercase: flags[3],
                include_space: flags[4],
                require_each_included_type: flags[5],
            })
    }

    #[test]
    fn check_names_the_rule_a_password_breaks() {
        let policy = PasswordPolicy {
            length: 4,
            exclude_punctuation: true,
            ..PasswordPolicy::default()
        };
        assert_eq!(policy.check("aB3x"), Ok(()));
        assert_eq!(
            policy.check("aB3"),
            Err(PolicyMismatch::Length {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            policy.check("aB3!"),
            Err(PolicyMismatch::CharacterNotAllowed)
        );
        assert_eq!(
            policy.check("abcd"),
            Err(PolicyMismatch::MissingType { missing: 2 })
        );
        let relaxed = PasswordPolicy {
            require_each_included_type: false,
            ..policy.clone()
        };
        assert_eq!(relaxed.check("abcd"), Ok(()));
        // The message never quotes the password.
        let message = policy.check("s3cr3t-X").unwrap_err().to_string();
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Every password satisfies its policy, or the policy is refused for a reason that holds.
        #[test]
        fn generated_passwords_satisfy_their_policy(policy in policies()) {
            match policy.generate() {
                Err(PolicyError::NothingToChooseFrom) => prop_assert!(policy.alphabet().is_empty()),
                Err(PolicyError::TooShortForRequiredTypes { length, classes }) => {
                    prop_assert!(policy.require_each_included_type);
                    prop_assert!(classes > length);
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
                Ok(password) => {
                    let p = password.expose_secret();
                    prop_assert_eq!(p.chars().count(), policy.length);
                    for c in p.chars() {
                        prop_assert!(!policy.exclude_characters.contains(c), "excluded {c:?} in output");
                        prop_assert!(!(policy.exclude_numbers && c.is_ascii_digit()));
                        prop_assert!(!(policy.exclude_uppercase && c.is_ascii_uppercase()));
                        prop_assert!(!(policy.exclude_lowercase && c.is_ascii_lowercase()));
                        prop_assert!(!(policy.exclude_punctuation && c.is_ascii_punctuation()));
                        prop_assert!(policy.include_space || c != ' ');
                        prop_assert!(c.is_ascii_graphic() || c == ' ');
                    }
                    if policy.require_each_included_type {
                        for (set, excluded) in [
                            (LOWERCASE, policy.exclude_lowercase),
                            (UPPERCASE, policy.exclude_uppercase),
                            (NUMBERS, policy.exclude_numbers),
                            (PUNCTUATION, policy.exclude_punctuation),
                        ] {
                            let allowed: Vec<char> = set.chars().filter(|c| !policy.exclude_characters.contains(*c)).collect();
                            if !excluded && !allowed.is_empty() {
                                prop_assert!(p.chars().any(|c| allowed.contains(&c)), "missing a required type from {set}");
                            }
                        }
                    }
                    // The policy's own check accepts what it produced.
                    prop_assert_eq!(policy.check(p), Ok(()));
                }
            }
        }
    }
}
