#!/usr/bin/env bash
# Installs the tools the tests and checks use into $FINDASH_TOOLS (default ~/.cache/findash-tools),
# when missing or at another version: diesel_cli (schema.rs drift check), cargo-deny
# (ops/security-scan.sh), schemathesis (ops/contract/run, in a Python virtualenv), aiosmtpd (the email tests'
# SMTP server, in its own virtualenv) and the
# rustfmt/clippy components.
set -euo pipefail
source "$(dirname "$0")/lib/env.sh"

DIESEL_CLI_VERSION=2.3.14
CARGO_DENY_VERSION=0.20.2
SCHEMATHESIS_VERSION=4.32.5
AIOSMTPD_VERSION=1.4.6

if [ "$("$FINDASH_TOOLS/bin/diesel" --version 2>/dev/null | awk '/Version:/{print $2}')" != "$DIESEL_CLI_VERSION" ]; then
    echo "installing diesel_cli $DIESEL_CLI_VERSION into $FINDASH_TOOLS" >&2
    cargo install diesel_cli --version "$DIESEL_CLI_VERSION" --no-default-features --features postgres \
        --locked --root "$FINDASH_TOOLS" --quiet
fi
if [ "$("$FINDASH_TOOLS/bin/cargo-deny" --version 2>/dev/null | awk '{print $2}')" != "$CARGO_DENY_VERSION" ]; then
    echo "installing cargo-deny $CARGO_DENY_VERSION into $FINDASH_TOOLS" >&2
    cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --root "$FINDASH_TOOLS" --quiet
fi
venv="$FINDASH_TOOLS/schemathesis"
if [ "$("$venv/bin/st" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv" >&2
    python3 -m venv --help >/dev/null 2>&1 || findash_apt_install python3-venv
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
# The SMTP server the email tests start (jobs/tests/support/smtp_server.py).
venv="$FINDASH_TOOLS/aiosmtpd"
if [ "$("$venv/bin/python" -c 'import aiosmtpd; print(aiosmtpd.__version__)' 2>/dev/null)" != "$AIOSMTPD_VERSION" ]; then
    echo "installing aiosmtpd $AIOSMTPD_VERSION into $venv" >&2
    python3 -m venv --help >/dev/null 2>&1 || findash_apt_install python3-venv
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
