#!/bin/bash
# run.sh - `make bench`: the figures of SPEC.md section 9, each beside its
# goal and its ceiling from the same run, on a private PostgreSQL and
# mosquitto on 127.0.0.1. Prints one table at the end and writes it as
# JSON (BENCH_JSON, default bench-results.json in the build directory) so
# that runs can be compared. The parts, each skipped with its variable =0:
#
#   BENCH_INGEST   sustained ingest against the broker-only echo (cw-load):
#                  BENCH_ROUNDS times cw-load echo (the ceiling), then
#                  carewatchd on a fresh copy of the sample county, cw-load
#                  ingest until every event is durable, without and with
#                  listeners (10 event streams, GET /api/v1/incidents every
#                  second); ratio of the medians (goal 0.90, contract 0.70),
#                  what the listeners cost (goal: within 10 %), and the CPU
#                  an event of each process against the echo's
#   BENCH_SOS      SOS publish-to-offer latency (cw-sos): BENCH_SOS_COUNT
#                  SOS (default 200) of different elders, 0.1 s apart,
#                  among heartbeats at BENCH_SOS_RATE ev/s (default 1000);
#                  p50, p99, max (goal p99 20 ms, contract 50 ms), beside
#                  the broker alone delivering the same SOS (the ceiling)
#   BENCH_STORM    the storm (bench/storm.sh): 50,000 heartbeats queued at
#                  the broker while carewatchd is down, an SOS in the
#                  middle; reconnect to offer (goal 500 ms, contract 1 s),
#                  BENCH_STORM_ROUNDS rounds (default 3)
#   BENCH_NEAREST  nearest available responder among 100,000 clustered in
#                  200 towns, through the daemon's index (cw-nearest):
#                  median and p99 of 100,000 queries (goal 20 us, contract
#                  50 us), beside a brute-force scan (the ceiling)
#   BENCH_RESTART  carewatchd restarted on 10,000 open incidents, 1,000 of
#                  them with a pending offer (bench/restart.sql): exec to
#                  event=ready (goal 1 s, contract 2 s), to the first and
#                  the 1,000th republished offer
#   BENCH_MEMORY   carewatchd's VmRSS with the sample county (goal 64 MiB)
#   BENCH_PROVINCE VmRSS and load time with a generated province
#                  (bench/world.sql: 1,000,000 devices, 100,000 responders,
#                  500,000 elders; about a minute to generate)
#   BENCH_HEARTBEAT a province's heartbeats: every device of the province
#                  once every BENCH_HEARTBEAT_EVERY s (default 300, about
#                  3,300 ev/s) for BENCH_HEARTBEAT_S s (default 600), each
#                  durable before its PUBACK (cw-load --rate); the CPU of
#                  carewatchd, mosquitto and PostgreSQL as shares of a core,
#                  and the growth a day of the events and devices tables,
#                  the database and the WAL
#
# bench/start.py times the starts (restart, memory, province).
#
# Environment: BENCH_COUNT (messages per ingest run, default 50000),
# BENCH_ROUNDS (ingest runs of each kind, default 5), BENCH_LISTENERS
# ("sse poll", the default, or one of them: the listeners of the runs with
# listeners, to tell their costs apart), BENCH_TIMEOUT (seconds per run,
# default 300), BENCH_STRICT=1 (exit 1 when a figure misses its contract
# or the listeners cost more than the goal), BENCH_KEEP=1 (keep the work
# directory), BENCH_DAEMON_CONF (extra lines for carewatchd.conf, e.g.
# $'[daemon]\nbatch_max = 2000').
# Builds nothing: `make bench` builds first. Every wait is bounded.
set -euo pipefail

top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# make runs us from the build directory; fall back to the source tree.
top_builddir=${top_builddir:-$PWD}
[[ -x $top_builddir/daemon/carewatchd ]] || top_builddir=$top_srcdir

count=${BENCH_COUNT:-50000}
timeout_s=${BENCH_TIMEOUT:-300}
budget=0.70   # ingest over echo: the contract
ingest_goal=0.90
listen_goal=10 # per cent the listeners may cost the ingest rate
sample=$top_srcdir/sql/sample

carewatchd=$top_builddir/daemon/carewatchd
carewatch=$top_builddir/cli/carewatch
cw_load=$top_builddir/bench/cw-load
cw_sos=$top_builddir/bench/cw-sos
cw_nearest=$top_builddir/bench/cw-nearest
json_out=${BENCH_JSON:-$top_builddir/bench-results.json}

# Whether part $1 runs: BENCH_<PART> is not 0.
part() {
	local v="BENCH_${1^^}"
	[[ ${!v:-1} != 0 ]]
}

say() {
	echo "bench: $*" >&2
}

die() {
	say "$*"
	exit 1
}

[[ $count =~ ^[0-9]+$ && $count -ge 1 ]] || die "BENCH_COUNT must be a positive number"
[[ $timeout_s =~ ^[0-9]+$ && $timeout_s -ge 1 ]] || die "BENCH_TIMEOUT must be a positive number"
for p in "$carewatchd" "$carewatch" "$cw_load" "$cw_sos" "$cw_nearest"; do
	[[ -x $p ]] || die "$p is not built (run make first)"
done
for k in areas stations volunteers elders devices; do
	[[ -f $sample/$k.csv ]] || die "$sample/$k.csv is missing"
done

# shellcheck source=tests/lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/cw-bench.XXXXXX")
# The server users (postgres, mosquitto) must be able to enter it.
chmod 755 "$work"
daemon_pid=
daemon_log=/dev/null
listeners=() # pids of the listener clients
ok=0

# True when pid is a live process (not a zombie).
alive() {
	[[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
		[[ $(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# Sends SIGTERM to the daemon and waits up to 30 s, then kills it.
stop_daemon() {
	local i
	[[ -n $daemon_pid ]] || return 0
	if alive "$daemon_pid"; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do
			alive "$daemon_pid" || break
			sleep 0.1
		done
		if alive "$daemon_pid"; then
			say "carewatchd $daemon_pid ignored SIGTERM for 30 s; killing it"
			kill -KILL "$daemon_pid" 2>/dev/null || true
		fi
	fi
	daemon_pid=
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	trap '' INT TERM
	stop_listeners
	stop_daemon
	cw_servers_stop
	if [[ $ok == 1 && ${BENCH_KEEP:-0} != 1 ]]; then
		rm -rf "$work"
	else
		say "logs and data kept in $work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "servers"
cw_servers_start "$work/servers"

conf=$work/carewatchd.conf
http_port=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT")
mkdir -p "$work/spool"
chmod 700 "$work/spool"
(
	umask 077
	od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$work/id.key"
)
cat >"$conf" <<EOF
# carewatchd for bench/run.sh
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = carewatchd-bench

[database]
conninfo = $CW_CONNINFO

[http]
listen = 127.0.0.1:$http_port

[spool]
dir = $work/spool

[privacy]
id_key_file = $work/id.key
${BENCH_DAEMON_CONF:-}
EOF
"$carewatchd" -n -c "$conf" >/dev/null

say "schema and sample county"
export CAREWATCH_SQLDIR=$top_srcdir/sql
"$carewatch" -c "$conf" db migrate >/dev/null
for kind in areas stations volunteers elders devices; do
	"$carewatch" -c "$conf" import "$kind" "$sample/$kind.csv" >/dev/null
done

# The ceiling: cw-load echo, the broker alone; sets rate and out.
echo_once() { # round
	say "round $1: ceiling: cw-load echo, $count messages"
	out=$("$cw_load" echo --host 127.0.0.1 --port "$CW_MQ_PORT" --count "$count" \
		--timeout "$timeout_s" --cpu "broker=$CW_MQ_PID") || die "cw-load echo failed"
	echo "$out"
	rate=$(sed -n 's/^RESULT echo_rate=//p' <<<"$out")
	[[ -n $rate ]] || die "cw-load echo printed no result"
}

# The operators' consoles, for the run with listeners: a token for them.
token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
cw_psql -c "INSERT INTO users (name, role, token_sha256)
	VALUES ('bench', 'auditor', encode(sha256('$token'::bytea), 'hex'))"

# Writes the daemon's configuration for database $1 (a copy of the
# migrated county, so that every run starts from the same state).
run_conf() { # database
	sed "s|^conninfo = .*|conninfo = ${CW_CONNINFO/dbname=carewatch/dbname=$1}|" "$conf" \
		>"$work/carewatchd-$1.conf"
}

# Starts carewatchd on database $1 and waits until it serves. Ready means:
# it said so, and an event published now is stored (so its subscription
# and its database path work). The probe is re-sent (same id, idempotent)
# because a message published before its first subscription exists
# reaches nobody.
start_daemon() { # database
	local db=$1 probe_dev probe_id ready=0 i n
	cw_psql -c "CREATE DATABASE $db TEMPLATE carewatch"
	run_conf "$db"
	# In its own session, so that a Ctrl-C reaches this script, which then
	# stops the daemon in order.
	setsid "$carewatchd" -c "$work/carewatchd-$db.conf" >"$work/carewatchd-$db.log" 2>&1 &
	daemon_pid=$!
	daemon_log=$work/carewatchd-$db.log
	probe_dev=$(awk -F, 'NR == 2 { gsub(/"/, "", $1); print $1; exit }' "$sample/devices.csv")
	probe_id="bench-probe-$$-$RANDOM"
	for ((i = 0; i < 600; i++)); do
		alive "$daemon_pid" || {
			tail -n 20 "$daemon_log" >&2
			die "carewatchd exited at start"
		}
		if grep -q 'event=ready' "$daemon_log"; then
			if ((i % 5 == 0)); then
				timeout 5 mosquitto_pub -h 127.0.0.1 -p "$CW_MQ_PORT" -q 1 \
					-i "cw-bench-probe-$$" -t "carewatch/dev/$probe_dev/event" \
					-m "{\"id\":\"$probe_id\",\"type\":\"heartbeat\",\"state\":\"alarm\"}" ||
					true
			fi
			n=$("$CW_PG_BIN/psql" -X -At "${CW_CONNINFO/dbname=carewatch/dbname=$db}" \
				-c "SELECT count(*) FROM events WHERE event_id = '$probe_id'" 2>/dev/null ||
				echo 0)
			if [[ $n == 1 ]]; then
				ready=1
				break
			fi
		fi
		sleep 0.1
	done
	if [[ $ready != 1 ]]; then
		tail -n 20 "$daemon_log" >&2
		die "carewatchd not ready after 60 s (no event=ready, or the probe event was not stored)"
	fi
}

# cw-load ingest against the running daemon on database $1; sets rate.
ingest() { # database
	local out
	out=$("$cw_load" ingest --host 127.0.0.1 --port "$CW_MQ_PORT" \
		--conninfo "${CW_CONNINFO/dbname=carewatch/dbname=$1}" --count "$count" \
		--devices "$sample/devices.csv" --timeout "$timeout_s" --cpu "daemon=$daemon_pid" \
		--cpu "broker=$CW_MQ_PID" --cpu "postgres=$CW_PG_PID") || {
		tail -n 20 "$daemon_log" >&2
		die "cw-load ingest failed"
	}
	echo "$out"
	rate=$(sed -n 's/^RESULT ingest_rate=//p' <<<"$out")
	[[ -n $rate ]] || die "cw-load ingest printed no result"
	ingest_out=$out
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

metric() { # name: its value in /metrics
	curl -s --max-time 5 -H "Authorization: Bearer $token" \
		"http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# Ten event streams and one client reading the incident list every second,
# as the operators' consoles do; stopped by stop_listeners.
start_listeners() { # round
	local i
	if ((listen_poll)); then
		poll_list "$1"
	fi
	((listen_sse)) || return 0
	for ((i = 0; i < 10; i++)); do
		curl -sN --max-time $((timeout_s + 120)) -H "Authorization: Bearer $token" \
			"http://127.0.0.1:$http_port/api/v1/events" >"$work/sse.$1.$i" 2>/dev/null &
		listeners+=($!)
	done
	for ((i = 0; i < 100; i++)); do
		[[ $(metric carewatch_sse_clients) == 10 ]] && return 0
		sleep 0.1
	done
	die "the 10 event streams did not connect in 10 s"
}

# GET /api/v1/incidents every second, each answer's status, time and size
# logged to poll.ROUND.log.
poll_list() { # round
	python3 - "$http_port" "$token" "$work/poll.$1.log" $((timeout_s + 120)) <<'PY' &
import http.client, sys, time
port, token, log, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
end = time.monotonic() + secs
with open(log, "w") as f:
    while time.monotonic() < end:
        t = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/v1/incidents", headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            n = len(r.read())
            f.write("%d %.4f %d\n" % (r.status, time.monotonic() - t, n))
            c.close()
        except OSError as e:
            f.write("error %.4f %s\n" % (time.monotonic() - t, e))
        f.flush()
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
PY
	listeners+=($!)
}

stop_listeners() {
	local p
	for p in "${listeners[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${listeners[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	listeners=()
}

# One measured ingest on a fresh copy of the county: kind plain (no
# listeners) or listen (with them); sets rate.
measure() { # kind round
	local kind=$1 r=$2 i
	if [[ $kind == plain ]]; then
		say "round $r: carewatchd and cw-load ingest, $count events, no listeners"
	else
		say "round $r: carewatchd and cw-load ingest, $count events, with $listen_what"
	fi
	start_daemon "run_${kind}_$r"
	[[ $kind == plain ]] || start_listeners "$r"
	ingest "run_${kind}_$r"
	if [[ $kind == listen ]]; then
		stop_listeners
		# they listened: events on every stream, polls answered
		for ((i = 0; i < 10 * listen_sse; i++)); do
			grep -q '^event: incident' "$work/sse.$r.$i" ||
				die "event stream $i received no event in round $r"
		done
		((!listen_poll)) || grep -q '^200 ' "$work/poll.$r.log" ||
			die "no list poll was answered in round $r"
	fi
	stop_daemon
	grep -q 'event=exit status=0' "$daemon_log" ||
		say "carewatchd did not log a clean exit (see $daemon_log)"
}

# The ingest figures (BENCH_INGEST).
part_ingest() {
	local r kind order w
	# Alternate rounds start with the other kind, so that a drift of the
	# machine during the bench weighs on both alike.
	rounds=${BENCH_ROUNDS:-5}
	listen_sse=0
	listen_poll=0
	for w in ${BENCH_LISTENERS:-sse poll}; do
		case $w in
		sse) listen_sse=1 ;;
		poll) listen_poll=1 ;;
		*) die "BENCH_LISTENERS: sse, poll or both, not $w" ;;
		esac
	done
	((listen_sse + listen_poll > 0)) || die "BENCH_LISTENERS: sse, poll or both"
	case $listen_sse$listen_poll in
	10) listen_what="10 event streams" ;;
	01) listen_what="a list poll every second" ;;
	*) listen_what="10 event streams and a list poll every second" ;;
	esac
	[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number"
	plain_rates=()
	listen_rates=()
	echo_rates=()
	local -A cpu=()
	local p
	# Each round measures the ceiling too, just before its ingests: the
	# machine's pace drifts (the echo alone moved from 17,500 to 24,500
	# msg/s between runs), and a ceiling from one moment only would put
	# that drift into the ratio.
	for ((r = 1; r <= rounds; r++)); do
		echo_once "$r"
		echo_rates+=("$rate")
		for p in broker load; do cpu[echo_$p]+=" $(result "cpu_${p}_us" "$out")"; done
		order=(plain listen)
		((r % 2 == 1)) || order=(listen plain)
		for kind in "${order[@]}"; do
			measure "$kind" "$r"
			if [[ $kind == plain ]]; then
				plain_rates+=("$rate")
				for p in daemon broker postgres load; do
					cpu[ingest_$p]+=" $(result "cpu_${p}_us" "$ingest_out")"
				done
			else
				listen_rates+=("$rate")
			fi
		done
	done
	# The median of each kind: other work on the machine slows a run now and
	# then, which the median shrugs off.
	echo_rate=$(median "${echo_rates[@]}")
	ingest_rate=$(median "${plain_rates[@]}")
	listen_rate=$(median "${listen_rates[@]}")
	# CPU a message, medians: the machine has two cores, and the echo needs
	# the broker and the load generator only
	for p in "${!cpu[@]}"; do
		# shellcheck disable=SC2086 # the list splits on purpose
		cpu[$p]=$(median ${cpu[$p]})
	done
	echo_cpu=$(awk -v a="${cpu[echo_broker]}" -v b="${cpu[echo_load]}" 'BEGIN { printf "%.1f", a + b }')
	ingest_cpu=$(awk -v a="${cpu[ingest_daemon]}" -v b="${cpu[ingest_broker]}" -v c="${cpu[ingest_postgres]}" \
		-v d="${cpu[ingest_load]}" 'BEGIN { printf "%.1f", a + b + c + d }')

	listened=()
	if ((listen_sse)); then
		sse_min=$(for f in "$work"/sse.*; do grep -c '^event: incident' "$f" || true; done |
			sort -n | head -n 1)
		listened+=("10 event streams, the fewest events one received in a round $sse_min")
	fi
	if ((listen_poll)); then
		polls=$(cat "$work"/poll.*.log | wc -l)
		polls_ok=$(cat "$work"/poll.*.log | awk '$1 == 200' | wc -l)
		poll_max=$(cat "$work"/poll.*.log | awk '$1 == 200 && $2 > m { m = $2 } END { printf "%.3f", m }')
		listened+=("list polls $polls, $polls_ok answered 200, the slowest in $poll_max s")
	fi


	ratio=$(awk -v a="$ingest_rate" -v b="$echo_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	diff=$(awk -v a="$listen_rate" -v b="$ingest_rate" 'BEGIN { printf "%+.1f", (b > 0 ? 100 * (a - b) / b : 0) }')
	echo
	printf 'rounds  echo: %s msg/s   no listeners: %s ev/s   with listeners: %s ev/s   (medians below)\n' \
		"${echo_rates[*]}" "${plain_rates[*]}" "${listen_rates[*]}"
	printf 'listeners: %s' "${listened[0]}"
	((${#listened[@]} == 1)) || printf '; %s' "${listened[@]:1}"
	echo
	row ingest_echo_rate "$echo_rate" msg/s "broker alone: the ceiling (median of $rounds, one before each round)" "" -
	row ingest_rate "$ingest_rate" ev/s "ratio to echo; goal >= $ingest_goal, contract >= $budget" \
		"$ratio" "$(verdict_ge "$ratio" "$ingest_goal" "$budget")"
	row ingest_listen_rate "$listen_rate" ev/s "difference to no listeners, goal within -$listen_goal %" \
		"$diff" "$(verdict_ge "$diff" "-$listen_goal" "-$listen_goal")"
	row echo_cpu_us "$echo_cpu" us/msg "CPU a message, echo: broker ${cpu[echo_broker]}, cw-load ${cpu[echo_load]}" "" -
	row ingest_cpu_us "$ingest_cpu" us/ev \
		"CPU an event, ingest: carewatchd ${cpu[ingest_daemon]}, broker ${cpu[ingest_broker]}, PostgreSQL ${cpu[ingest_postgres]}, cw-load ${cpu[ingest_load]}; over the echo's" \
		"$(ratio_of "$ingest_cpu" "$echo_cpu")" -
}

# --- the table ------------------------------------------------------------

rows=$work/rows.tsv
: >"$rows"
# One figure: name value unit what-the-ratio-is ratio verdict. The verdict
# is ok (meets the goal), contract (meets only the contract), FAIL, or -
# (reported, no budget).
row() { # name value unit reference ratio verdict
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$rows"
}
# ok / contract / FAIL for a figure that must be at least goal (contract).
verdict_ge() { # value goal contract
	awk -v v="$1" -v g="$2" -v c="$3" 'BEGIN { print (v + 0 >= g + 0) ? "ok" : (v + 0 >= c + 0) ? "contract" : "FAIL" }'
}
# The same for a figure that must stay under goal (contract).
verdict_le() { # value goal contract
	awk -v v="$1" -v g="$2" -v c="$3" 'BEGIN { print (v + 0 <= g + 0) ? "ok" : (v + 0 <= c + 0) ? "contract" : "FAIL" }'
}
ratio_of() { # value reference
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}
# The value of RESULT key=value in text $2.
result() { # key text
	sed -n "s/^RESULT $1=//p" <<<"$2" | head -n 1
}

# --- SOS latency under background load (BENCH_SOS) -----------------------

part_sos() {
	local n=${BENCH_SOS_COUNT:-200} rate=${BENCH_SOS_RATE:-1000} out p50 p99 mx miss bg ep50 ep99
	say "SOS latency: carewatchd, $n SOS among heartbeats at $rate ev/s"
	start_daemon run_sos
	out=$(timeout $((timeout_s + 60)) "$cw_sos" --port "$CW_MQ_PORT" --devices "$sample/devices.csv" \
		--sos "$n" --rate "$rate" --interval 0.1 --wait 30) || {
		tail -n 20 "$daemon_log" >&2
		die "cw-sos failed"
	}
	echo "$out"
	stop_daemon
	p50=$(result sos_p50_ms "$out")
	p99=$(result sos_p99_ms "$out")
	mx=$(result sos_max_ms "$out")
	miss=$(result sos_missing "$out")
	bg=$(result sos_background_rate "$out")
	ep50=$(result echo_p50_ms "$out")
	ep99=$(result echo_p99_ms "$out")
	row sos_p50_ms "$p50" ms "over goal 20 ms (p99's)" "$(ratio_of "$p50" 20)" -
	row sos_p99_ms "$p99" ms "over goal 20 ms; contract 50 ms" "$(ratio_of "$p99" 20)" \
		"$(verdict_le "$p99" 20 50)"
	row sos_max_ms "$mx" ms "over goal 20 ms" "$(ratio_of "$mx" 20)" -
	row sos_broker_p50_ms "$ep50" ms "ceiling: the broker alone delivering the same SOS; daemon p50 over it" \
		"$(ratio_of "$p50" "$ep50")" -
	row sos_broker_p99_ms "$ep99" ms "ceiling: the broker alone; daemon p99 over it" \
		"$(ratio_of "$p99" "$ep99")" -
	row sos_missing "$miss" offers "SOS never offered (of $n)" "" "$( ((miss == 0)) && echo ok || echo FAIL)"
	row sos_background_rate "$bg" ev/s "achieved, of $rate asked" "$(ratio_of "$bg" "$rate")" -
}

# --- the storm (BENCH_STORM) ------------------------------------------------

part_storm() {
	local out med mx all
	say "storm: bench/storm.sh, 50,000 queued events with an SOS in the middle, ${BENCH_STORM_ROUNDS:-3} rounds"
	out=$(top_builddir=$top_builddir "$top_srcdir/bench/storm.sh") || die "bench/storm.sh failed"
	echo "$out"
	med=$(grep '^{' <<<"$out" | python3 -c 'import json, statistics, sys; print(statistics.median(json.loads(l)["reconnect_to_offer_ms"] for l in sys.stdin))')
	mx=$(grep '^{' <<<"$out" | python3 -c 'import json, sys; print(max(json.loads(l)["reconnect_to_offer_ms"] for l in sys.stdin))')
	all=$(grep '^{' <<<"$out" | python3 -c 'import json, statistics, sys; print(statistics.median(json.loads(l)["start_to_all_stored_ms"] for l in sys.stdin))')
	row storm_sos_offer_ms "$med" ms "median, reconnect to offer, over goal 500 ms; contract 1000 ms" \
		"$(ratio_of "$med" 500)" "$(verdict_le "$med" 500 1000)"
	row storm_sos_offer_max_ms "$mx" ms "worst round, over goal 500 ms" "$(ratio_of "$mx" 500)" -
	row storm_all_stored_ms "$all" ms "median, start to all 50,001 stored" "" -
}

# --- the nearest responder (BENCH_NEAREST) --------------------------------

part_nearest() {
	local out med p99 bf
	say "nearest responder: cw-nearest, 100,000 responders, 100,000 queries"
	out=$(timeout 600 "$cw_nearest" 100000 100000 1000) || die "cw-nearest failed (or answers differ)"
	echo "$out"
	med=$(result nearest_median_us "$out")
	p99=$(result nearest_p99_us "$out")
	bf=$(result brute_median_us "$out")
	row nearest_median_us "$med" us "over goal 20 us; contract 50 us" "$(ratio_of "$med" 20)" \
		"$(verdict_le "$med" 20 50)"
	row nearest_p99_us "$p99" us "over goal 20 us; contract 50 us" "$(ratio_of "$p99" 20)" \
		"$(verdict_le "$p99" 20 50)"
	row nearest_brute_median_us "$bf" us "ceiling: brute-force scan; speedup of the index" \
		"$(ratio_of "$bf" "$med")" -
	row nearest_build_ms "$(result nearest_build_ms "$out")" ms "index build, 100,000 responders" "" -
}

# Starts carewatchd on database $1 with bench/start.py, expecting $2
# republished offers, within $3 s; sets out.
timed_start() { # database offers timeout
	run_conf "$1"
	out=$(python3 "$top_srcdir/bench/start.py" "$carewatchd" "$work/carewatchd-$1.conf" \
		"$work/carewatchd-$1.log" "$CW_MQ_PORT" carewatch "$2" "$3") || {
		tail -n 20 "$work/carewatchd-$1.log" >&2
		die "carewatchd did not start on $1"
	}
	echo "$out"
}

db_psql() { # database psql-args...
	local db=$1
	shift
	"$CW_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "${CW_CONNINFO/dbname=carewatch/dbname=$db}" "$@"
}

# --- restart with 10,000 open incidents (BENCH_RESTART) -------------------

part_restart() {
	local ready first all n out
	say "restart: 10,000 open incidents, 1,000 pending offers (bench/restart.sql)"
	cw_psql -c "CREATE DATABASE run_restart TEMPLATE carewatch"
	db_psql run_restart -f "$top_srcdir/bench/restart.sql" >/dev/null
	n=$(db_psql run_restart -At -c "SELECT count(*) FROM incidents WHERE state <> 'resolved'")
	timed_start run_restart 1000 60
	ready=$(result ready_ms "$out")
	first=$(result first_offer_ms "$out")
	all=$(result all_offers_ms "$out")
	row restart_ready_ms "$ready" ms "exec to event=ready, $n open; over goal 1000 ms, contract 2000" \
		"$(ratio_of "$ready" 1000)" "$(verdict_le "$ready" 1000 2000)"
	row restart_first_offer_ms "${first:-none}" ms "exec to the first republished offer" "" -
	row restart_all_offers_ms "${all:-none}" ms "exec to the 1,000th republished offer" "" \
		"$([[ -n $all ]] && echo - || echo FAIL)"
}

# --- resident memory (BENCH_MEMORY, BENCH_PROVINCE) ------------------------

part_memory() {
	local kib
	say "memory: carewatchd with the sample county"
	cw_psql -c "CREATE DATABASE run_memory TEMPLATE carewatch"
	timed_start run_memory 0 60
	kib=$(result vmrss_kib "$out")
	row memory_county_mib "$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')" MiB \
		"VmRSS, sample county; over goal 64 MiB" "$(awk -v k="$kib" 'BEGIN { printf "%.2f", k / 1024 / 64 }')" \
		"$(verdict_le "$kib" 65536 65536)"
}

# Generates the province into database run_province, once; sets gen (s).
province_generated=0
province_db() {
	local t0
	((province_generated)) && return 0
	say "a generated province (bench/world.sql), generating"
	cw_psql -c "CREATE DATABASE run_province"
	run_conf run_province
	"$carewatch" -c "$work/carewatchd-run_province.conf" db migrate >/dev/null
	t0=$(date +%s.%N)
	timeout 900 "$CW_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		"${CW_CONNINFO/dbname=carewatch/dbname=run_province}" -f "$top_srcdir/bench/world.sql" \
		>/dev/null || die "bench/world.sql failed"
	gen=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	say "province generated in $gen s"
	province_generated=1
}

part_province() {
	local kib
	province_db
	say "memory: carewatchd with the province"
	timed_start run_province 0 600
	kib=$(result vmrss_kib "$out")
	row memory_province_mib "$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')" MiB \
		"VmRSS, 1,000,000 devices, 100,000 responders, 500,000 elders" "" -
	row province_ready_ms "$(result ready_ms "$out")" ms "exec to event=ready, the province" "" -
}

# --- a province's heartbeats (BENCH_HEARTBEAT) ------------------------------

# The size in bytes of what query $2 names in database $1.
db_bytes() { # database query
	db_psql "$1" -At -c "$2"
}

part_heartbeat() {
	local secs=${BENCH_HEARTBEAT_S:-600} every=${BENCH_HEARTBEAT_EVERY:-300} n rate count out i
	local ev0 dev0 wal0 db0 ev1 dev1 wal1 db1 day opened
	[[ $secs =~ ^[1-9][0-9]*$ ]] || die "BENCH_HEARTBEAT_S must be a positive number"
	[[ $every =~ ^[1-9][0-9]*$ ]] || die "BENCH_HEARTBEAT_EVERY must be a positive number"
	province_db
	# Every device heard just now, with the heartbeat it keeps: the daemon
	# starts in the steady state, where last_seen is written when the
	# stored time is half a heartbeat old.
	db_psql run_province -c "UPDATE devices SET heartbeat_s = $every, last_seen = now(), online = true" \
		-c "VACUUM ANALYZE devices" >/dev/null
	n=$(db_psql run_province -At -c "SELECT count(*) FROM devices")
	rate=$(awk -v n="$n" -v e="$every" 'BEGIN { printf "%.1f", n / e }')
	count=$(awk -v r="$rate" -v s="$secs" 'BEGIN { printf "%d", r * s }')
	db_psql run_province -c "\\copy (SELECT id, kind FROM devices ORDER BY id) TO '$work/province-devices.csv' CSV HEADER"
	say "heartbeats: $n devices every $every s = $rate ev/s for $secs s ($count events)"
	run_conf run_province
	setsid "$carewatchd" -c "$work/carewatchd-run_province.conf" >"$work/carewatchd-heartbeat.log" 2>&1 &
	daemon_pid=$!
	daemon_log=$work/carewatchd-heartbeat.log
	for ((i = 0; i < 6000; i++)); do
		alive "$daemon_pid" || {
			tail -n 20 "$daemon_log" >&2
			die "carewatchd exited at start"
		}
		grep -q 'event=ready' "$daemon_log" && break
		sleep 0.1
	done
	grep -q 'event=ready' "$daemon_log" || die "carewatchd not ready on the province after 600 s"
	ev0=$(db_bytes run_province "SELECT pg_total_relation_size('events')")
	dev0=$(db_bytes run_province "SELECT pg_total_relation_size('devices')")
	db0=$(db_bytes run_province "SELECT pg_database_size(current_database())")
	wal0=$(db_bytes run_province "SELECT pg_current_wal_lsn() - '0/0'")
	opened=$(db_bytes run_province "SELECT count(*) FROM incidents")
	out=$("$cw_load" ingest --host 127.0.0.1 --port "$CW_MQ_PORT" \
		--conninfo "${CW_CONNINFO/dbname=carewatch/dbname=run_province}" --count "$count" \
		--rate "$rate" --alarm-share 0 --devices "$work/province-devices.csv" \
		--timeout $((secs + 300)) --cpu "daemon=$daemon_pid" --cpu "broker=$CW_MQ_PID" \
		--cpu "postgres=$CW_PG_PID") || {
		tail -n 20 "$daemon_log" >&2
		die "cw-load (heartbeats) failed"
	}
	echo "$out"
	ev1=$(db_bytes run_province "SELECT pg_total_relation_size('events')")
	dev1=$(db_bytes run_province "SELECT pg_total_relation_size('devices')")
	db1=$(db_bytes run_province "SELECT pg_database_size(current_database())")
	wal1=$(db_bytes run_province "SELECT pg_current_wal_lsn() - '0/0'")
	opened=$(($(db_bytes run_province "SELECT count(*) FROM incidents") - opened))
	stop_daemon
	day=$(awk -v s="$secs" 'BEGIN { print 86400 / s }')
	gib_day() { awk -v a="$1" -v b="$2" -v d="$day" 'BEGIN { printf "%.1f", (b - a) * d / 1073741824 }'; }
	row heartbeat_rate "$(result ingest_rate "$out")" ev/s \
		"durable, $n devices each every $every s for $secs s; over the $rate asked" \
		"$(ratio_of "$(result ingest_rate "$out")" "$rate")" -
	for p in daemon broker postgres load; do
		row "heartbeat_cpu_$p" "$(result "cpu_${p}_pct" "$out")" "%core" \
			"CPU of $p (and its children) from the first publish to all stored; share of the machine's $(nproc) cores" \
			"$(awk -v c="$(result "cpu_${p}_pct" "$out")" -v n="$(nproc)" 'BEGIN { printf "%.2f", c / 100 / n }')" -
	done
	row heartbeat_events_gib_day "$(gib_day "$ev0" "$ev1")" GiB/d "events table and its indexes, growth a day at this rate" "" -
	row heartbeat_devices_gib_day "$(gib_day "$dev0" "$dev1")" GiB/d "devices table and its indexes (last_seen), growth a day" "" -
	row heartbeat_database_gib_day "$(gib_day "$db0" "$db1")" GiB/d "the whole database, growth a day" "" -
	row heartbeat_wal_gib_day "$(gib_day "$wal0" "$wal1")" GiB/d "WAL written a day (what a streaming replica receives)" "" -
	row heartbeat_incidents "$opened" incidents "opened during the run (heartbeats open none)" "" \
		"$( ((opened == 0)) && echo ok || echo FAIL)"
}

part ingest && part_ingest
part sos && part_sos
part storm && part_storm
part nearest && part_nearest
part restart && part_restart
part memory && part_memory
part province && part_province
part heartbeat && part_heartbeat

echo
python3 - "$rows" "$json_out" <<'PY'
import json, sys, time
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def num(v):
    try:
        return float(v)
    except ValueError:
        return v or None
w = max([len(r[0]) for r in rows] + [6])
print("%-*s %12s %-6s %7s  %-8s %s" % (w, "figure", "value", "unit", "ratio", "verdict", "against"))
for name, value, unit, ref, ratio, verdict in rows:
    print("%-*s %12s %-6s %7s  %-8s %s" % (w, name, value, unit, ratio or "", verdict, ref))
json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "figures": {r[0]: {"value": num(r[1]), "unit": r[2], "against": r[3],
                              "ratio": num(r[4]), "verdict": r[5]} for r in rows}},
          open(sys.argv[2], "w"), indent=1, ensure_ascii=False)
PY
say "figures written to $json_out"
ok=1
if [[ ${BENCH_STRICT:-0} == 1 ]] && cut -f6 "$rows" | grep -qx FAIL; then
	exit 1
fi
exit 0
