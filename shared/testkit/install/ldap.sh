# What testkit's OpenLDAP server (src/ldap.rs) needs on the machine: slapd
# with its modules (back_mdb, ppolicy, pw-sha2) and schemas.
# scripts/setup sources every file in this folder: when no path matches
# `probe` (a glob, or a command on PATH), it installs `debian_packages`.
# The server's "not found" error names the same packages.
probe='/usr/sbin/slapd'
debian_packages='slapd'
