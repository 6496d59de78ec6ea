# Sourced by the scripts: one cargo target directory outside the clone, reused
# across runs and clones.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${ROTATION_CACHE:-$HOME/.cache/rotation-functions}/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
