//! Copying a user's grants to its clone from `SHOW GRANTS` output.
//!
//! Each line of `SHOW GRANTS FOR current` is rewritten for the clone: the
//! grantee is replaced, and of what follows it only `WITH GRANT OPTION` /
//! `WITH ADMIN OPTION` is kept (MariaDB prints the password hash and the TLS
//! requirement there; those are set separately). Grants the clone holds that
//! the current user no longer does are revoked first, so after every
//! rotation both users hold the same grants. Pure functions, no I/O.

use crate::sql::account;

/// A grant line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The line does not name the expected grantee.
    #[error("line {line} of SHOW GRANTS does not name the grantee {grantee}")]
    NoGrantee {
        /// 1-based line number.
        line: usize,
        /// The account looked for.
        grantee: String,
    },
}

/// One `GRANT` line, without its grantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `GRANT <privileges> ON <object>` or `GRANT <roles>`.
    pub head: String,
    /// `WITH GRANT OPTION` followed.
    pub grant_option: bool,
    /// `WITH ADMIN OPTION` followed (role grants).
    pub admin_option: bool,
}

/// A line of `SHOW GRANTS`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantLine {
    /// `GRANT …`.
    Grant(Grant),
    /// MariaDB's `SET DEFAULT ROLE <role> FOR <grantee>`: the role.
    DefaultRole(String),
}

/// The ways a server may print the account `user`@`host` in `SHOW GRANTS`:
/// backticks (MariaDB, MySQL 8) or single quotes (MySQL 5.7).
pub fn grantee_forms(user: &str, host: &str) -> Vec<String> {
    let quoted = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let doubled = |s: &str| format!("'{}'", s.replace('\'', "''"));
    vec![
        account(user, host),
        format!("{}@{}", quoted(user), quoted(host)),
        format!("{}@{}", doubled(user), doubled(host)),
    ]
}

/// Reads `SHOW GRANTS` lines for `user`@`host`.
pub fn parse(lines: &[String], user: &str, host: &str) -> Result<Vec<GrantLine>, GrantError> {
    let forms = grantee_forms(user, host);
    let mut out = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let missing = || GrantError::NoGrantee {
            line: index + 1,
            grantee: forms[0].clone(),
        };
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("SET DEFAULT ROLE ") {
            let role = forms
                .iter()
                .find_map(|f| rest.strip_suffix(&format!(" FOR {f}")))
                .ok_or_else(missing)?;
            out.push(GrantLine::DefaultRole(role.to_owned()));
            continue;
        }
        if !line.starts_with("GRANT ") {
            // REVOKE lines (MySQL 8 partial revokes) and anything unknown are
            // not copied; say so without printing the line.
            tracing::warn!(
                line = index + 1,
                "a SHOW GRANTS line that is not a GRANT was not copied"
            );
            continue;
        }
        let (head, tail) = forms
            .iter()
            .find_map(|f| {
                let marker = format!(" TO {f}");
                line.find(&marker)
                    .map(|at| (&line[..at], &line[at + marker.len()..]))
            })
            .ok_or_else(missing)?;
        out.push(GrantLine::Grant(Grant {
            head: head.to_owned(),
            grant_option: tail.contains("WITH GRANT OPTION"),
            admin_option: tail.contains(" WITH ADMIN OPTION"),
        }));
    }
    Ok(out)
}

/// The position of the first ` ON ` outside quotes and parentheses.
fn top_level_on(head: &str) -> Option<usize> {
    let bytes = head.as_bytes();
    let (mut depth, mut quote) = (0usize, None::<u8>);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'`' | b'\'' | b'"' => quote = Some(b),
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b' ' if depth == 0 && head[i..].starts_with(" ON ") => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

fn is_usage_only(head: &str) -> bool {
    match top_level_on(head) {
        Some(at) => head["GRANT ".len()..at]
            .trim()
            .eq_ignore_ascii_case("USAGE"),
        None => false,
    }
}

/// The statements that revoke `grant` from `grantee`.
fn revoke(grant: &Grant, grantee: &str) -> Vec<String> {
    let body = &grant.head["GRANT ".len()..];
    match top_level_on(&grant.head) {
        Some(at) => {
            let on = &grant.head[at..];
            let privileges = &grant.head["GRANT ".len()..at];
            let mut out = Vec::new();
            if !privileges.trim().eq_ignore_ascii_case("USAGE") {
                out.push(format!("REVOKE {privileges}{on} FROM {grantee}"));
            }
            if grant.grant_option {
                out.push(format!("REVOKE GRANT OPTION{on} FROM {grantee}"));
            }
            out
        }
        None => vec![format!("REVOKE {body} FROM {grantee}")],
    }
}

/// The statement that gives `grant` to `grantee`.
fn give(grant: &Grant, grantee: &str) -> String {
    let mut statement = format!("{} TO {grantee}", grant.head);
    if grant.grant_option {
        statement.push_str(" WITH GRANT OPTION");
    }
    if grant.admin_option {
        statement.push_str(" WITH ADMIN OPTION");
    }
    statement
}

/// The statements that make the clone `pending` (holding `held`) hold
/// exactly `wanted`: revokes of what it should not have, then every grant
/// of the current user (granting twice is harmless), then the default role.
pub fn plan(wanted: &[GrantLine], held: &[GrantLine], pending: &str) -> Vec<String> {
    let mut statements = Vec::new();
    for line in held {
        if let GrantLine::Grant(grant) = line {
            if !wanted.contains(line) && !is_usage_only(&grant.head) {
                statements.extend(revoke(grant, pending));
            }
        }
    }
    for line in wanted {
        match line {
            GrantLine::Grant(grant) if is_usage_only(&grant.head) && !grant.grant_option => {}
            GrantLine::Grant(grant) => statements.push(give(grant, pending)),
            GrantLine::DefaultRole(role) => {
                statements.push(format!("SET DEFAULT ROLE {role} FOR {pending}"))
            }
        }
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mariadb_lines_lose_the_hash_and_keep_the_options() {
        let shown = lines(&[
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE SSL",
            "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%` WITH GRANT OPTION",
            "GRANT SELECT (`id`, `a ON b`) ON `shop`.`t` TO `app`@`%`",
            "GRANT `reporting` TO `app`@`%`",
            "SET DEFAULT ROLE `reporting` FOR `app`@`%`",
        ]);
        let read = parse(&shown, "app", "%").unwrap();
        let statements = plan(&read, &[], "`app_clone`@`%`");
        assert_eq!(
            statements,
            vec![
                "GRANT SELECT, INSERT ON `shop`.* TO `app_clone`@`%` WITH GRANT OPTION",
                "GRANT SELECT (`id`, `a ON b`) ON `shop`.`t` TO `app_clone`@`%`",
                "GRANT `reporting` TO `app_clone`@`%`",
                "SET DEFAULT ROLE `reporting` FOR `app_clone`@`%`",
            ]
        );
        assert!(!statements.concat().contains("2470C0"), "no hash copied");
    }

    #[test]
    fn grants_the_clone_should_not_have_are_revoked_first() {
        let wanted = parse(
            &lines(&[
                "GRANT USAGE ON *.* TO `app`@`%`",
                "GRANT SELECT ON `a`.* TO `app`@`%`",
            ]),
            "app",
            "%",
        )
        .unwrap();
        let held = parse(
            &lines(&[
                "GRANT USAGE ON *.* TO `app_clone`@`%` IDENTIFIED BY PASSWORD '*00'",
                "GRANT SELECT ON `a`.* TO `app_clone`@`%`",
                "GRANT DELETE ON `b`.* TO `app_clone`@`%` WITH GRANT OPTION",
                "GRANT `old_role` TO `app_clone`@`%`",
            ]),
            "app_clone",
            "%",
        )
        .unwrap();
        assert_eq!(
            plan(&wanted, &held, "`app_clone`@`%`"),
            vec![
                "REVOKE DELETE ON `b`.* FROM `app_clone`@`%`",
                "REVOKE GRANT OPTION ON `b`.* FROM `app_clone`@`%`",
                "REVOKE `old_role` FROM `app_clone`@`%`",
                "GRANT SELECT ON `a`.* TO `app_clone`@`%`",
            ]
        );
    }

    #[test]
    fn odd_names_are_found_in_every_quoting_style() {
        let user = "o'b`r\\ien";
        let maria = format!("GRANT SELECT ON *.* TO {}", account(user, "%"));
        let mysql57 = "GRANT SELECT ON *.* TO 'o\\'b`r\\\\ien'@'%'".to_owned();
        for line in [maria, mysql57] {
            let read = parse(std::slice::from_ref(&line), user, "%").unwrap();
            assert_eq!(
                read,
                vec![GrantLine::Grant(Grant {
                    head: "GRANT SELECT ON *.*".to_owned(),
                    grant_option: false,
                    admin_option: false
                })],
                "{line}"
            );
        }
        let err = parse(
            &lines(&["GRANT SELECT ON *.* TO `someone`@`%`"]),
            "app",
            "%",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`app`@`%`"), "{err}");
    }
}
