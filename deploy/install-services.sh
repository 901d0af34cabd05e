#!/usr/bin/env bash
# Idempotently ensure the services smartpark's test suite talks to on a Debian machine:
# TimescaleDB (Apache edition) loaded into the local PostgreSQL, a running Mosquitto, and
# Debian's Chromium for the dashboard's browser tests.
#
# Debian 13 packages TimescaleDB; Debian 12 does not, so there we build Debian 13's source
# package against the installed PostgreSQL. The trixie deb-src entry lives in a private apt
# configuration so the machine's own apt sources are never touched.
set -euo pipefail

log() { printf '[install-services] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PG_MAJOR="${PG_MAJOR:-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1 || true)}"
BUILD_ROOT="${SMARTPARK_BUILD_ROOT:-/var/cache/smartpark-build}"

apt_install() {
    if ! dpkg -s "$@" >/dev/null 2>&1; then
        log "apt-get install $*"
        $SUDO apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
    fi
}

ensure_postgres() {
    if [ -z "$PG_MAJOR" ]; then
        apt_install postgresql
        PG_MAJOR="$(ls /etc/postgresql | sort -n | tail -1)"
    fi
    if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
        log "starting PostgreSQL $PG_MAJOR"
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start
    fi
}

timescaledb_installed() {
    [ -f "/usr/share/postgresql/$PG_MAJOR/extension/timescaledb.control" ] &&
        ls /usr/lib/postgresql/"$PG_MAJOR"/lib/timescaledb*.so >/dev/null 2>&1
}

build_timescaledb() {
    # Prefer a packaged build when the archive has one (Debian 13 and later).
    if apt-cache show "postgresql-$PG_MAJOR-timescaledb" >/dev/null 2>&1; then
        apt_install "postgresql-$PG_MAJOR-timescaledb"
        return
    fi
    apt_install dpkg-dev cmake gcc make "postgresql-server-dev-$PG_MAJOR" libssl-dev libkrb5-dev
    local aptdir="$BUILD_ROOT/apt"
    mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial"
    cat >"$aptdir/sources.list" <<SRC
deb-src http://deb.debian.org/debian trixie main
SRC
    local aptopts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o "Dir::Etc::SourceParts=-"
        -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache::Archives=$aptdir/archives"
        -o "APT::Sandbox::User=root")
    log "fetching TimescaleDB source package (trixie)"
    apt-get "${aptopts[@]}" update -qq
    local src="$BUILD_ROOT/src"
    rm -rf "$src" && mkdir -p "$src"
    (cd "$src" && apt-get "${aptopts[@]}" source --download-only timescaledb >/dev/null &&
        dpkg-source -x --no-check ./*.dsc tsdb >/dev/null)
    log "building TimescaleDB (Apache edition) against PostgreSQL $PG_MAJOR"
    (cd "$src/tsdb" &&
        PATH="/usr/lib/postgresql/$PG_MAJOR/bin:$PATH" ./bootstrap -DAPACHE_ONLY=ON \
            -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
            -DPG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" >/dev/null &&
        cd build && make -j"$(nproc)" >/dev/null && $SUDO make install >/dev/null)
}

preload_timescaledb() {
    local conf="/etc/postgresql/$PG_MAJOR/main/conf.d/smartpark-timescaledb.conf"
    if [ ! -f "$conf" ]; then
        log "enabling shared_preload_libraries = timescaledb"
        $SUDO mkdir -p "$(dirname "$conf")"
        printf "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n" |
            $SUDO tee "$conf" >/dev/null
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main restart
    fi
    local loaded
    loaded="$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW shared_preload_libraries' 2>/dev/null || true)"
    if [[ "$loaded" != *timescaledb* ]]; then
        log "restarting PostgreSQL to load timescaledb"
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main restart
    fi
}

ensure_mosquitto() {
    apt_install mosquitto mosquitto-clients
    if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
        log "starting Mosquitto on 127.0.0.1:1883; $(chromium --version 2>/dev/null || echo 'no chromium')"
        $SUDO mosquitto -d -c /etc/mosquitto/mosquitto.conf
        sleep 0.5
    fi
}

ensure_browser() {
    # The dashboard's browser tests drive Debian's Chromium through Playwright (no download);
    # the CJK font renders the indicators' Chinese names in screenshots.
    apt_install chromium fonts-noto-cjk
}

ensure_postgres
if ! timescaledb_installed; then build_timescaledb; fi
preload_timescaledb
ensure_mosquitto
ensure_browser
log "TimescaleDB $(psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT default_version FROM pg_available_extensions WHERE name='timescaledb'") on PostgreSQL $PG_MAJOR; Mosquitto on 127.0.0.1:1883; $(chromium --version 2>/dev/null || echo 'no chromium')"
