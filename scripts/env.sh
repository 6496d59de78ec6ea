# Sourced by the scripts: one cargo target directory outside the clone, reused
# across runs and clones.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${ROTATION_CACHE:-$HOME/.cache/rotation-functions}/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# The package name a function crate's manifest gives (its first `name = "…"`).
package_of() { sed -n 's/^name = "\(.*\)"$/\1/p' "$1" | head -1; }
