# Sourced by the install scripts that need Debian packages: `apt_ready NAME WHAT` finds how to run apt-get as
# root (root itself, or password-less sudo) and returns 1, having said why, when it cannot: the caller then
# exits 0 so that the tests decide (they skip, or fail when AGENT_BRIDGE_REQUIRE_REAL_AGENTS is set).
# `apt_install NAME PACKAGE...` installs, running `apt-get update` once per script.

apt_ready() {
    local name=$1 what=$2
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "$name: $what missing; not root and no password-less sudo, so not installing it" \
            "(its tests skip, or fail when AGENT_BRIDGE_REQUIRE_REAL_AGENTS is set)" >&2
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$name: $what missing and there is no apt-get here; install it yourself" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_updated=0
}

apt_install() {
    local name=$1
    shift
    if (( apt_updated == 0 )); then
        echo "$name: apt-get update"
        "${as_root[@]}" apt-get update -qq
        apt_updated=1
    fi
    echo "$name: apt-get install $*"
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}
