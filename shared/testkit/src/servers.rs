//! The kit's test servers by name: the `test-server` a function's manifest
//! names (see [`crate::functions`]), for the demo and the bench, and what
//! each needs installed (declared once, in `install/<name>.sh`, which
//! `scripts/setup` reads too).
//!
//! Adding a server: its module, its `install/<name>.sh`, a [`TestServer`]
//! impl, and one line in [`NAMES`], [`install_declaration`] and
//! [`with_server!`](crate::with_server).
//!
//! [`TestServer`]: crate::TestServer

/// Every server's name.
pub const NAMES: &[&str] = &[
    "postgres",
    "mariadb",
    "redis",
    "generated",
    "ldap",
    "iam-keys",
];

/// The `install/<name>.sh` declaration of a server.
pub fn install_declaration(server: &str) -> Option<&'static str> {
    match server {
        "postgres" => Some(include_str!("../install/postgres.sh")),
        "mariadb" => Some(include_str!("../install/mariadb.sh")),
        "iam-keys" => Some(include_str!("../install/iam-keys.sh")),
        "ldap" => Some(include_str!("../install/ldap.sh")),
        "redis" => Some(include_str!("../install/redis.sh")),
        "generated" => Some(include_str!("../install/generated.sh")),
        _ => None,
    }
}

/// What to do when a server's binaries are missing, from its declaration:
/// the Debian packages, and the script that installs them.
pub fn install_hint(server: &str) -> String {
    match debian_packages(server) {
        Some(packages) if !packages.is_empty() => format!(
            "install the Debian package(s) {packages} (`scripts/setup` does, as part of `scripts/test`)"
        ),

        _ => format!(
            "shared/testkit/install/{server}.sh declares no Debian package yet: name what the server needs there"
        ),
    }
}

/// The `debian_packages` a server's declaration names (`None` without a
/// declaration).
pub fn debian_packages(server: &str) -> Option<String> {
    let text = install_declaration(server)?;
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("debian_packages="))?;
    // A shell word: quoted, maybe followed by a comment.
    let value = match value.chars().next() {
        Some(quote @ ('\'' | '"')) => value[1..].split(quote).next().unwrap_or_default(),
        _ => value.split('#').next().unwrap_or_default(),
    };
    Some(value.trim().to_owned())
}

/// Runs `$run::<Server>($args…).await` with the server type named `$name`
/// (a `&str`); `None` for an unknown name.
///
/// ```ignore
/// let result = testkit::with_server!("postgres", bench_function(&function, &args));
/// ```
#[macro_export]
macro_rules! with_server {
    ($name:expr, $run:ident($($arg:expr),* $(,)?)) => {
        match $name {
            "postgres" => Some($run::<$crate::postgres::EphemeralPostgres>($($arg),*).await),
            "mariadb" => Some($run::<$crate::mariadb::EphemeralMariaDb>($($arg),*).await),
            "iam-keys" => Some($run::<$crate::iam_keys::IamAccount>($($arg),*).await),
            "ldap" => Some($run::<$crate::ldap::EphemeralLdap>($($arg),*).await),
            "redis" => Some($run::<$crate::redis::EphemeralRedis>($($arg),*).await),
            "generated" => Some($run::<$crate::generated::Consumers>($($arg),*).await),
            _ => None,
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_server_declares_its_packages() {
        for name in super::NAMES {
            let hint = super::install_hint(name);
            assert!(
                !hint.contains("no shared/testkit/install"),
                "{name}: {hint}"
            );
        }
        assert!(super::install_hint("postgres").contains("postgresql"));
    }
}
