#!/bin/bash
# install-deps.sh - installs the Debian 12 packages that the build, the
# tests, the demo and the benchmarks need, when any is missing.
#
# Quick and silent when everything is there (one dpkg-query). As root it
# runs apt-get non-interactively; otherwise through sudo when sudo works
# without a password, else it prints the command to run and fails.
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config
	libevent-dev libmosquitto-dev libjansson-dev check libpq-dev libssl-dev
	postgresql-15 postgresql-client-15 mosquitto mosquitto-clients
	systemd clang-format curl prometheus
	util-linux procps coreutils
	# the operator console's browser test (tests/console.sh); the font so
	# that its screenshots show Chinese
	chromium chromium-driver python3-selenium fonts-wqy-zenhei
	# the hostile-client and Prometheus checks (tests/http.sh)
	python3
	# the broker's TLS listener and its test CA (tests/broker.sh)
	openssl
	# wall-clock steps under the daemon (s_clock_step in tests/scenarios.sh)
	libfaketime
	# libFuzzer with ASan and UBSan (fuzz/run.sh, make fuzz)
	clang
	# tests/visits.sh: script(1) gives an import a terminal; jq reads JSON
	bsdutils jq
)

# Prints the packages that are not installed, one per line.
missing_packages() {
	local p status
	for p in "${packages[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[[ $status == installed ]] || echo "$p"
	done
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps: not a Debian system; install the equivalents of: ${packages[*]}" >&2
	exit 1
fi

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} == 0)); then
	exit 0
fi
echo "install-deps: missing ${missing[*]}" >&2

if [[ $(id -u) -eq 0 ]]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	as_root=(sudo -n)
else
	echo "install-deps: missing packages; as root run:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep existing configuration files, never ask.
apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef
	-o Dpkg::Options::=--force-confold)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${missing[@]}"

mapfile -t still < <(missing_packages)
if ((${#still[@]} > 0)); then
	echo "install-deps: still missing after apt-get: ${still[*]}" >&2
	exit 1
fi
