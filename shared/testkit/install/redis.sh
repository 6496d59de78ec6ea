# What testkit's Redis server (src/redis.rs) needs on the machine.
# scripts/setup sources every file in this folder: when no path matches
# `probe` (a glob, or a command on PATH), it installs `debian_packages`.
# The server's "not found" error names the same packages.
probe='/usr/bin/redis-server'
debian_packages='redis-server'
