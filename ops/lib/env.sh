# Shared settings for the ops scripts; sourced, not run.
# The build cache lives outside the clone so fresh clones (CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/findash-target}"
# Tools the project installs for itself (diesel_cli) live here, never in a global location.
export FINDASH_TOOLS="${FINDASH_TOOLS:-$HOME/.cache/findash-tools}"
export PATH="$FINDASH_TOOLS/bin:$HOME/.cargo/bin:$PATH"
# Tests reach PostgreSQL as this superuser-capable role (creates template and per-test databases).
export FINDASH_TEST_DATABASE_URL="${FINDASH_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# Root runs apt directly; anyone else through sudo.
findash_apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing from Debian: $*" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
