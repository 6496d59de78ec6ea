# What testkit's IAM and STS (src/iam_keys.rs) needs on the machine: a
# second moto server, from the virtualenv scripts/setup makes (moto[server]),
# so nothing from Debian beyond Python itself.
# scripts/setup sources every file in this folder: when no path matches
# `probe` (a glob, or a command on PATH), it installs `debian_packages`.
probe='python3'
debian_packages='python3'
