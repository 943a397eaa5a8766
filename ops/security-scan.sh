#!/usr/bin/env bash
# Offline dependency audit: cargo-deny (advisories, licenses, bans, sources; policy in deny.toml)
# against the RustSec advisory snapshot shipped beside the repository (../shared/advisory-db, or
# $FINDASH_ADVISORY_DB). The advisory data is never fetched from the network.
set -euo pipefail
cd "$(dirname "$0")/.."
source ops/lib/env.sh

snapshot="${FINDASH_ADVISORY_DB:-../shared/advisory-db}"
[ -f "$snapshot/SNAPSHOT" ] || { echo "no advisory snapshot at $snapshot (set FINDASH_ADVISORY_DB)" >&2; exit 1; }
# cargo-deny keeps the database for db-urls[0] of deny.toml in this directory, as a git checkout.
db="$HOME/.cache/findash-advisory-db/advisory-db-3157b0e258782691"
snapshot_id=$(cat "$snapshot/SNAPSHOT")
if [ "$(cat "$db.snapshot" 2>/dev/null)" != "$snapshot_id" ]; then
    echo "loading advisory snapshot: $snapshot_id" >&2
    rm -rf "$db"
    mkdir -p "$db"
    cp -R "$snapshot"/. "$db"/
    # The commit date is the snapshot's date, so cargo-deny's staleness check sees its real age.
    when=$(sed -E 's/.*\(([0-9-]+)\).*/\1/' "$snapshot/SNAPSHOT")T00:00:00Z
    git -C "$db" init -q
    git -C "$db" add -A
    GIT_AUTHOR_DATE="$when" GIT_COMMITTER_DATE="$when" \
        git -C "$db" -c user.name=findash -c user.email=ops@findash.invalid commit -qm "$snapshot_id"
    echo "$snapshot_id" > "$db.snapshot"
fi
# cargo-deny reads the metadata of every platform's dependencies without the network: make sure
# cargo's registry cache holds them all (a fresh machine has only what its builds needed).
cargo fetch --locked --quiet
cargo deny --offline check
