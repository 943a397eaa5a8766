#!/usr/bin/env bash
# Makes sure PostgreSQL (15 or newer) and Redis answer on 127.0.0.1 (5432, 6379): starts them when
# stopped and installs them from Debian when missing. Also installs what the build and tests need
# from Debian (libpq for Diesel, pg_dump for the migration tests, Chromium and chromedriver for the
# admin console's browser tests). Idempotent; safe to run often.
set -euo pipefail
source "$(dirname "$0")/lib/env.sh"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

need_packages=()
command -v pg_dump >/dev/null || need_packages+=(postgresql-client)
dpkg -s libpq-dev >/dev/null 2>&1 || need_packages+=(libpq-dev)
command -v pkg-config >/dev/null || need_packages+=(pkg-config)
command -v redis-cli >/dev/null || need_packages+=(redis-tools)
# The outage tests start and stop a Redis server of their own.
command -v redis-server >/dev/null || need_packages+=(redis-server)
# The admin console's browser tests drive Debian's Chromium through chromedriver.
command -v chromium >/dev/null || need_packages+=(chromium fonts-dejavu-core)
command -v chromedriver >/dev/null || need_packages+=(chromium-driver)
if [ ${#need_packages[@]} -gt 0 ]; then findash_apt_install "${need_packages[@]}"; fi

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }
wait_for() {
    local what=$1 check=$2
    for _ in $(seq 1 30); do "$check" && return 0; sleep 1; done
    echo "$what did not come up on 127.0.0.1" >&2
    return 1
}

if ! pg_ready; then
    fresh_install=no
    if [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
        findash_apt_install postgresql
        fresh_install=yes
    fi
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    if [ "$fresh_install" = yes ]; then
        # A development/CI server only: local TCP connections are trusted, as on the CI machines.
        # The package may have started the cluster already, so restart it to apply this.
        hba="/etc/postgresql/$version/main/pg_hba.conf"
        $sudo sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
        $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main stop 2>/dev/null || true
    fi
    echo "starting PostgreSQL $version" >&2
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for PostgreSQL pg_ready
fi
server_version=$(psql -h 127.0.0.1 -p 5432 -U postgres -Atqc 'SHOW server_version_num' 2>/dev/null || echo 0)
if [ "$server_version" != 0 ] && [ "$server_version" -lt 150000 ]; then
    echo "PostgreSQL on 127.0.0.1:5432 is older than 15; the migrations need 15 or newer" >&2
    exit 1
fi

if ! redis_ready; then
    command -v redis-server >/dev/null || findash_apt_install redis-server
    $sudo mkdir -p /var/lib/redis /var/log/redis
    echo "starting Redis" >&2
    $sudo redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/findash.log
    wait_for Redis redis_ready
fi
echo "services: PostgreSQL and Redis are up on 127.0.0.1" >&2
