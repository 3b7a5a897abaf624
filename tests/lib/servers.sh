# shellcheck shell=bash
# servers.sh - private PostgreSQL 15 and mosquitto 2.0 servers on loopback,
# for the scenario tests, the demo and the benchmarks.
#
#   . tests/lib/servers.sh
#   trap cw_servers_stop EXIT
#   cw_servers_start "$dir"         # throwaway servers under $dir
#   carewatch ... "$CW_CONNINFO" ... mosquitto_pub -p "$CW_MQ_PORT" ...
#
# cw_servers_start exports:
#   CW_SERVERS_DIR  the directory (also holds servers.env with all of these)
#   CW_PGHOST       127.0.0.1
#   CW_PGPORT       PostgreSQL's TCP port
#   CW_PGSOCKDIR    directory of its unix socket
#   CW_PGDATA       its data directory
#   CW_PG_BIN       directory of the PostgreSQL 15 programs
#   CW_PG_PID       postmaster pid
#   CW_CONNINFO     "host=127.0.0.1 port=N dbname=carewatch user=postgres"
#   CW_CONNINFO_PGUSER  the same without user=: libpq takes PGUSER's
#   CW_MQ_PORT      mosquitto's port on 127.0.0.1
#   CW_MQ_PID       mosquitto pid
#   CW_MQ_CONF      its configuration file
#
# Other functions: cw_servers_stop, cw_pg_stop [fast|immediate|kill],
# cw_pg_start, cw_broker_stop [TERM|KILL], cw_broker_start, cw_broker_restart,
# cw_free_port, cw_psql ARGS..., cw_wait_port PORT [TRIES],
# cw_daemon_role [DB|CONNINFO], cw_daemon_users [CONNINFO],
# cw_expect_daemon_user [CONNINFO].
#
# Least privilege (migration 015): tests run carewatchd as the login role
# cw_daemon, a member of carewatch_daemon and nothing else, and the CLI as
# the owner (postgres). A conninfo that names user= wins over PGUSER, so a
# configuration both share names no user and the daemon is started with
# `env PGUSER=cw_daemon`.
#
# The servers are not jobs of the caller (a bare `wait` does not wait for
# them) and run in sessions of their own (a Ctrl-C at the terminal does not
# reach them): cw_servers_stop stops them, by pid. As root, PostgreSQL runs
# as user postgres and mosquitto drops to user mosquitto, so DIR's parents
# must be world-searchable. Every wait here is bounded; functions return
# non-zero with a message on stderr. Logs: DIR/postgres.log,
# DIR/mq/mosquitto.log.

# Messages go to stderr, prefixed so that they stand out in test logs.
_cw_say() {
	echo "servers: $*" >&2
}

# The PostgreSQL 15 programs (Debian keeps them out of PATH).
_cw_pg_bindir() {
	local d
	for d in /usr/lib/postgresql/15/bin "$(pg_config --bindir 2>/dev/null || true)"; do
		if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
			echo "$d"
			return 0
		fi
	done
	d=$(command -v initdb 2>/dev/null || true)
	if [[ -n $d ]]; then
		dirname "$d"
		return 0
	fi
	_cw_say "PostgreSQL 15 not found: run tests/lib/install-deps.sh"
	return 1
}

# Runs a command as the unprivileged owner of the cluster: postgres when we
# are root (PostgreSQL refuses to run as root), ourselves otherwise.
_cw_as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		(cd "$CW_SERVERS_DIR" && runuser -u postgres -- "$@")
	else
		(cd "$CW_SERVERS_DIR" && "$@")
	fi
}

# True when pid is a live process (a zombie counts as gone).
_cw_alive() {
	local pid=$1 state
	[[ -n $pid ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r /proc/$pid/stat ]]; then
		state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null || true)
		[[ $state != Z ]] || return 1
	fi
	return 0
}

# Waits up to tries/10 seconds for pid to end; true when it did.
_cw_wait_gone() {
	local pid=$1 tries=${2:-100} i
	for ((i = 0; i < tries; i++)); do
		_cw_alive "$pid" || return 0
		sleep 0.1
	done
	! _cw_alive "$pid"
}

# True when something accepts TCP connections on 127.0.0.1:port.
_cw_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a port on 127.0.0.1 that nothing listens on. Ports come from
# 20000-29999, below Linux's ephemeral range, so no outgoing connection
# holds them; pass ports to avoid as arguments.
# Starts tests/fakedns.py in dir (made if missing), mode drop or answer,
# answering A records for the name=ipv4 pairs given: dir/mode switches it,
# dir/queries is its log, dir/resolv.conf is for [daemon] resolv_conf. Sets
# CW_DNS_PID (the caller stops it). Waits at most 5 s for it to be ready.
cw_fakedns() { # dir mode name=ip...
	local dir=$1 mode=$2 i port=
	shift 2
	mkdir -p "$dir"
	echo "$mode" >"$dir/mode"
	: >"$dir/queries"
	python3 "$top_srcdir/tests/fakedns.py" "$dir/mode" "$dir/queries" "$@" 7>&- &
	CW_DNS_PID=$!
	for ((i = 0; i < 50; i++)); do
		port=$(awk '/^ready / { print $2; exit }' "$dir/queries")
		[[ -n $port ]] && break
		sleep 0.1
	done
	[[ -n $port ]] || {
		_cw_say "tests/fakedns.py did not start"
		return 1
	}
	printf 'nameserver 127.0.0.1:%s\noptions timeout:1 attempts:100\n' "$port" >"$dir/resolv.conf"
}

cw_free_port() {
	local i p skip taken
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 10000))
		taken=0
		for skip in "$@"; do
			[[ $p == "$skip" ]] && taken=1
		done
		((taken == 0)) || continue
		if ! _cw_port_open "$p"; then
			echo "$p"
			return 0
		fi
	done
	_cw_say "no free port found in 20000-29999"
	return 1
}

# Waits (tries/10 seconds at most, default 100) until 127.0.0.1:port accepts
# connections: for tests that start the daemon's HTTP listener.
cw_wait_port() {
	local port=$1 tries=${2:-100} i
	for ((i = 0; i < tries; i++)); do
		_cw_port_open "$port" && return 0
		sleep 0.1
	done
	_cw_say "nothing listens on 127.0.0.1:$port after $((tries / 10)) s"
	return 1
}

# psql on the private database, stopping at the first error.
cw_psql() {
	"$CW_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" "$@"
}

# Creates the login role cw_daemon in carewatch_daemon (the group migration
# 015 makes, so after `carewatch db migrate`). Roles belong to the cluster:
# any database of it will do, by name or conninfo (default $CW_CONNINFO).
# Idempotent, and quiet when there is nothing to do.
# shellcheck disable=SC2120 # the argument is optional
cw_daemon_role() {
	local ci=${1:-$CW_CONNINFO}

	[[ $ci == *=* ]] || ci="host=127.0.0.1 port=$CW_PGPORT dbname=$ci user=postgres"
	if ! "$CW_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$ci" >/dev/null <<'SQL'; then
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'carewatch_daemon') THEN
		RAISE EXCEPTION 'no role carewatch_daemon: run carewatch db migrate first';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cw_daemon') THEN
		CREATE ROLE cw_daemon LOGIN;
	END IF;
	IF NOT pg_has_role('cw_daemon', 'carewatch_daemon', 'MEMBER') THEN
		GRANT carewatch_daemon TO cw_daemon;
	END IF;
END $$;
SQL
		_cw_say "could not create the role cw_daemon"
		return 1
	fi
}

# Prints, sorted and comma-separated, the users that carewatchd's sessions
# (application_name carewatchd) are logged in as, for a test to assert that
# the daemon really is cw_daemon; empty while it has none.
# shellcheck disable=SC2120 # the argument is optional
cw_daemon_users() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "${1:-$CW_CONNINFO}" -c \
		"SELECT coalesce(string_agg(DISTINCT usename::text, ',' ORDER BY usename::text), '')
		 FROM pg_stat_activity WHERE application_name = 'carewatchd'"
}

# Waits up to 10 s for carewatchd's sessions and checks that all of them
# are cw_daemon's (none the owner's); prints an "ok:" or a "FAIL:" line, as
# tests/lib/check.sh does, and returns non-zero on failure.
# shellcheck disable=SC2120 # the argument is optional
cw_expect_daemon_user() {
	local ci=${1:-$CW_CONNINFO} users='' i

	for ((i = 0; i < 100; i++)); do
		users=$(cw_daemon_users "$ci") || users=
		[[ -z $users ]] || break
		sleep 0.1
	done
	if [[ $users != cw_daemon ]]; then
		echo "    FAIL: carewatchd's database sessions log in as '$users', expected 'cw_daemon'"
		return 1
	fi
	echo "    ok: carewatchd's database sessions log in as cw_daemon"
}

# Writes servers.env so that another shell can reach the same servers.
_cw_write_env() {
	local v
	{
		for v in CW_SERVERS_DIR CW_PGHOST CW_PGPORT CW_PGSOCKDIR CW_PGDATA CW_PG_BIN \
			CW_PG_PID CW_CONNINFO CW_CONNINFO_PGUSER CW_MQ_PORT CW_MQ_PID CW_MQ_CONF; do
			printf 'export %s=%q\n' "$v" "${!v:-}"
		done
	} >"$CW_SERVERS_DIR/servers.env"
}

# Creates the cluster in $CW_PGDATA: UTF-8, trust on loopback only, fsync on.
_cw_pg_init() {
	local dir=$CW_SERVERS_DIR

	rm -rf "$CW_PGDATA" "$CW_PGSOCKDIR"
	mkdir -p "$CW_PGDATA" "$CW_PGSOCKDIR"
	chmod 700 "$CW_PGDATA"
	: >"$dir/postgres.log"
	if [[ $(id -u) -eq 0 ]]; then
		chown postgres: "$CW_PGDATA" "$CW_PGSOCKDIR" "$dir/postgres.log"
		if ! runuser -u postgres -- test -w "$CW_PGDATA"; then
			_cw_say "user postgres cannot reach $CW_PGDATA: use a directory whose parents are world-searchable"
			return 1
		fi
	fi
	# --no-sync only skips flushing the freshly made cluster; the server
	# itself runs with fsync on.
	if ! _cw_as_pg "$CW_PG_BIN/initdb" -D "$CW_PGDATA" -U postgres -A trust -E UTF8 \
		--locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		_cw_say "initdb failed:"
		cat "$dir/initdb.log" >&2
		return 1
	fi
	cat >>"$CW_PGDATA/postgresql.conf" <<EOF

# carewatch test server (tests/lib/servers.sh)
listen_addresses = '127.0.0.1'
port = $CW_PGPORT
unix_socket_directories = '$CW_PGSOCKDIR'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 40
shared_buffers = 128MB
logging_collector = off
log_line_prefix = '%m [%p] '
EOF
	cat >"$CW_PGDATA/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
}

# Starts the cluster and waits until it accepts connections.
cw_pg_start() {
	local i

	if [[ -z ${CW_PGDATA:-} || ! -d $CW_PGDATA ]]; then
		_cw_say "cw_pg_start: no cluster (call cw_servers_start first)"
		return 1
	fi
	if ! _cw_as_pg "$CW_PG_BIN/pg_ctl" -D "$CW_PGDATA" -l "$CW_SERVERS_DIR/postgres.log" \
		-w -t 30 start >/dev/null; then
		_cw_say "PostgreSQL did not start on port $CW_PGPORT:"
		tail -n 20 "$CW_SERVERS_DIR/postgres.log" >&2
		return 1
	fi
	for ((i = 0; i < 100; i++)); do
		if "$CW_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$CW_PGPORT" -U postgres \
			-d postgres -t 1; then
			CW_PG_PID=$(head -n 1 "$CW_PGDATA/postmaster.pid")
			export CW_PG_PID
			_cw_write_env
			return 0
		fi
		sleep 0.1
	done
	_cw_say "PostgreSQL on port $CW_PGPORT not ready after 10 s"
	return 1
}

# Stops PostgreSQL: mode fast (default, clean), immediate (no checkpoint,
# like a crash) or kill (SIGKILL to the postmaster). Bounded: a clean stop
# that takes longer than 20 s becomes a kill.
cw_pg_stop() {
	local mode=${1:-fast} pid kids=() k

	[[ -n ${CW_PGDATA:-} && -f $CW_PGDATA/postmaster.pid ]] || return 0
	pid=$(head -n 1 "$CW_PGDATA/postmaster.pid" 2>/dev/null || true)
	if [[ -n $pid ]] && _cw_alive "$pid"; then
		mapfile -t kids < <(pgrep -P "$pid" 2>/dev/null || true)
	fi
	if [[ $mode == kill ]]; then
		[[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true
	elif _cw_as_pg "$CW_PG_BIN/pg_ctl" -D "$CW_PGDATA" -m "$mode" -w -t 20 stop \
		>/dev/null 2>&1; then
		return 0
	elif [[ -n $pid ]]; then
		_cw_say "pg_ctl stop failed; killing postmaster $pid"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [[ -n $pid ]] && ! _cw_wait_gone "$pid" 100; then
		_cw_say "postmaster $pid still alive"
		return 1
	fi
	# After a kill the backends notice the postmaster's death on their own;
	# wait for them, or a new postmaster finds its shared memory in use.
	for k in "${kids[@]}"; do
		_cw_wait_gone "$k" 50 || kill -KILL "$k" 2>/dev/null || true
	done
	# A killed postmaster may linger as a zombie until it is reaped, and
	# PostgreSQL takes a lock file naming a live pid for a running server.
	if [[ -n $pid && -f $CW_PGDATA/postmaster.pid ]] && ! _cw_alive "$pid"; then
		rm -f "$CW_PGDATA/postmaster.pid" "$CW_PGSOCKDIR/.s.PGSQL.$CW_PGPORT" \
			"$CW_PGSOCKDIR/.s.PGSQL.$CW_PGPORT.lock"
	fi
	return 0
}

# Writes mosquitto's configuration for port $CW_MQ_PORT.
_cw_mq_config() {
	local dir=$CW_SERVERS_DIR user=

	mkdir -p "$dir/mq"
	# As root mosquitto drops to the mosquitto user: give it its directory.
	if [[ $(id -u) -eq 0 ]]; then
		if id mosquitto >/dev/null 2>&1; then
			chown mosquitto: "$dir/mq"
			user="user mosquitto"
		else
			user="user root"
		fi
	fi
	cat >"$CW_MQ_CONF" <<EOF
# carewatch test broker (tests/lib/servers.sh)
$user
listener $CW_MQ_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/mq/
autosave_interval 30
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 0
set_tcp_nodelay true
log_dest file $dir/mq/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S
EOF
}

# Starts mosquitto with $CW_MQ_CONF and waits until a client can publish.
cw_broker_start() {
	local i pid

	if [[ -z ${CW_MQ_CONF:-} || ! -f $CW_MQ_CONF ]]; then
		_cw_say "cw_broker_start: no broker config (call cw_servers_start first)"
		return 1
	fi
	if _cw_alive "${CW_MQ_PID:-}"; then
		_cw_say "mosquitto already running (pid $CW_MQ_PID)"
		return 1
	fi
	# In its own session, so that a Ctrl-C meant for the caller's foreground
	# program does not reach it: the caller stops it in order. (With job
	# control on it has its own process group already, and setsid would
	# fork, hiding its pid.)
	if [[ $- == *m* ]]; then
		mosquitto -c "$CW_MQ_CONF" >>"$CW_SERVERS_DIR/mosquitto.out" 2>&1 &
	else
		setsid mosquitto -c "$CW_MQ_CONF" >>"$CW_SERVERS_DIR/mosquitto.out" 2>&1 &
	fi
	pid=$!
	# Not a job of the caller's: a bare `wait` there must not wait for it,
	# and its end is not reported.
	disown "$pid"
	CW_MQ_PID=$pid
	export CW_MQ_PID
	echo "$pid" >"$CW_SERVERS_DIR/mosquitto.pid"
	_cw_write_env
	for ((i = 0; i < 100; i++)); do
		if ! _cw_alive "$pid"; then
			_cw_say "mosquitto exited at start:"
			tail -n 20 "$CW_SERVERS_DIR/mosquitto.out" "$CW_SERVERS_DIR/mq/mosquitto.log" \
				>&2 2>/dev/null
			return 1
		fi
		if timeout 2 mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 0 \
			-i "cw-probe-$$" -t cw-servers/probe -m up >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	_cw_say "mosquitto on port $CW_MQ_PORT not ready after 10 s"
	return 1
}

# Stops mosquitto by pid: SIGTERM (default; it saves its persistence) or
# SIGKILL (a crash). Bounded: a broker alive after 10 s is killed.
cw_broker_stop() {
	local sig=${1:-TERM} pid=${CW_MQ_PID:-}

	if [[ -z $pid && -n ${CW_SERVERS_DIR:-} && -f $CW_SERVERS_DIR/mosquitto.pid ]]; then
		pid=$(cat "$CW_SERVERS_DIR/mosquitto.pid")
	fi
	[[ -n $pid ]] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	if ! _cw_wait_gone "$pid" 100; then
		_cw_say "mosquitto $pid ignored SIG$sig; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		_cw_wait_gone "$pid" 50 || {
			_cw_say "mosquitto $pid still alive"
			return 1
		}
	fi
	CW_MQ_PID=
	rm -f "$CW_SERVERS_DIR/mosquitto.pid"
	return 0
}

# Restarts mosquitto on the same port with the same persistence, for tests
# where the broker goes away; pass KILL to crash it instead of stopping it.
cw_broker_restart() {
	cw_broker_stop "${1:-TERM}" && cw_broker_start
}

# Stops servers that an earlier run left behind in $CW_SERVERS_DIR (a test
# killed before its trap ran), found through the pid files they left.
_cw_stop_leftovers() {
	local dir=$CW_SERVERS_DIR pid

	if [[ -f $dir/mosquitto.pid ]]; then
		pid=$(cat "$dir/mosquitto.pid")
		if _cw_alive "$pid" && grep -q mosquitto "/proc/$pid/cmdline" 2>/dev/null; then
			_cw_say "stopping mosquitto $pid left from an earlier run"
			CW_MQ_PID=$pid cw_broker_stop TERM || true
		fi
		rm -f "$dir/mosquitto.pid"
	fi
	if [[ -f $dir/pg/postmaster.pid ]]; then
		pid=$(head -n 1 "$dir/pg/postmaster.pid")
		if _cw_alive "$pid"; then
			_cw_say "stopping PostgreSQL $pid left from an earlier run"
			_cw_as_pg "$CW_PG_BIN/pg_ctl" -D "$dir/pg" -m immediate -w -t 20 stop \
				>/dev/null 2>&1 || kill -KILL "$pid" 2>/dev/null || true
			_cw_wait_gone "$pid" 100 || true
		fi
	fi
}

# Starts PostgreSQL (database carewatch) and mosquitto, both throwaway,
# under dir; see the top of this file for what it exports.
cw_servers_start() {
	local dir=${1:-} try

	if [[ -z $dir ]]; then
		_cw_say "usage: cw_servers_start DIR"
		return 1
	fi
	if _cw_alive "${CW_MQ_PID:-}" || _cw_alive "${CW_PG_PID:-}"; then
		_cw_say "servers already running under ${CW_SERVERS_DIR:-?}"
		return 1
	fi
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	# The server users must be able to enter it.
	chmod 755 "$dir"
	CW_SERVERS_DIR=$dir
	CW_PG_BIN=$(_cw_pg_bindir) || return 1
	_cw_stop_leftovers
	CW_PGHOST=127.0.0.1
	CW_PGDATA=$dir/pg
	CW_PGSOCKDIR=$dir/pgsock
	# A unix socket path must fit in 107 bytes.
	if ((${#CW_PGSOCKDIR} > 80)); then
		CW_PGSOCKDIR=$(mktemp -d /tmp/cwpg.XXXXXX) || return 1
		chmod 755 "$CW_PGSOCKDIR"
		ln -sfn "$CW_PGSOCKDIR" "$dir/pgsock"
	fi
	CW_MQ_CONF=$dir/mosquitto.conf
	export CW_SERVERS_DIR CW_PG_BIN CW_PGHOST CW_PGDATA CW_PGSOCKDIR CW_MQ_CONF

	# Another process may take the port between the check and the bind:
	# then try another one.
	for try in 1 2 3; do
		CW_PGPORT=$(cw_free_port) || return 1
		CW_CONNINFO_PGUSER="host=127.0.0.1 port=$CW_PGPORT dbname=carewatch"
		CW_CONNINFO="$CW_CONNINFO_PGUSER user=postgres"
		export CW_PGPORT CW_CONNINFO CW_CONNINFO_PGUSER
		_cw_pg_init || return 1
		cw_pg_start && break
		if ((try == 3)) || ! grep -q "could not bind\|could not create listen" \
			"$dir/postgres.log"; then
			return 1
		fi
		_cw_say "port $CW_PGPORT taken; trying another"
	done
	if ! "$CW_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		"host=127.0.0.1 port=$CW_PGPORT dbname=postgres user=postgres" \
		-c "CREATE DATABASE carewatch"; then
		_cw_say "could not create database carewatch"
		return 1
	fi

	for try in 1 2 3; do
		CW_MQ_PORT=$(cw_free_port "$CW_PGPORT") || return 1
		export CW_MQ_PORT
		rm -rf "$dir/mq"
		: >"$dir/mosquitto.out"
		_cw_mq_config
		cw_broker_start && break
		if ((try == 3)) || ! grep -qi "address already in use" \
			"$dir/mosquitto.out" "$dir/mq/mosquitto.log" 2>/dev/null; then
			return 1
		fi
		_cw_say "port $CW_MQ_PORT taken; trying another"
	done
	_cw_write_env
	_cw_say "PostgreSQL on 127.0.0.1:$CW_PGPORT (pid $CW_PG_PID), mosquitto on 127.0.0.1:$CW_MQ_PORT (pid $CW_MQ_PID), under $dir"
	return 0
}

# Stops both servers; safe to call twice, from a trap, or after a failed
# start. Leaves the directory (logs, data) for inspection.
cw_servers_stop() {
	[[ -n ${CW_SERVERS_DIR:-} ]] || return 0
	cw_broker_stop TERM || true
	cw_pg_stop fast || true
	if [[ -n ${CW_PGSOCKDIR:-} && $CW_PGSOCKDIR == /tmp/cwpg.* ]]; then
		rm -rf "$CW_PGSOCKDIR"
		rm -f "$CW_SERVERS_DIR/pgsock"
	fi
	return 0
}
