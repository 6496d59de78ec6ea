# What testkit's stand-in for the consumers of generated secrets
# (src/generated.rs) and rotate-generated's tests need on the machine:
# ssh-keygen, which checks the SSH key pairs the function makes
# independently of the function's own code.
# scripts/setup sources every file in this folder: when no path matches
# `probe` (a glob, or a command on PATH), it installs `debian_packages`.
probe='/usr/bin/ssh-keygen'
debian_packages='openssh-client'
