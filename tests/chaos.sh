#!/bin/bash
# chaos.sh - kill -9 at random instants under load (issue 9, SPEC §8).
#
# tests/chaosgen publishes a known set of events (200 SOS, one for each of
# 200 elders, among 3,000 heartbeats of their devices) at a steady rate,
# collects the acknowledgements, and answers every offer (accept, arrived,
# done). Meanwhile carewatchd is killed with SIGKILL CHAOS_KILLS times
# (default 20; `make chaos` 100) and restarted each time. The instants are
# random (seeded, CHAOS_SEED) between 0.05 and 1.5 s apart, so they fall on
# receiving, a batch in flight, just after a commit and publishing; every
# fifth kill waits for the daemon's next offer and kills right after it.
# Twice PostgreSQL is stopped (immediate) for a while, and once the broker.
#
# At the end: every event stored exactly once and acknowledged, one
# incident for each SOS, no offer number given to two responders, no
# volunteer holding two incidents at once, every incident resolved, and
# the spool empty. The sleeps in the kill loop are the random instants
# themselves, not waits for something: every wait is for a real event,
# with a deadline.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CLI_BIN=$top_builddir/cli/carewatch
CWD_BIN=$top_builddir/daemon/carewatchd
GEN_BIN=$top_builddir/tests/chaosgen
KILLS=${CHAOS_KILLS:-20}
SEED=${CHAOS_SEED:-$RANDOM}
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"

# the CLI as the owner; the daemon as cw_daemon (migration 015's role)
export PGUSER=postgres
WORK=$(mktemp -d /tmp/cw-chaos.XXXXXX)
chmod 755 "$WORK"
CONF=$WORK/carewatchd.conf
LOG=$WORK/daemon.log
P=chaos
DAEMON_PID=
GEN_PID=

cleanup() {
	if [[ -n $DAEMON_PID ]]; then
		kill -9 "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	[[ -n $GEN_PID ]] && kill "$GEN_PID" 2>/dev/null
	cw_servers_stop
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

pass=0
fail=0
failed_names=()

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" -c "$1"
}

ready_count() { grep -c 'event=ready' "$LOG" 2>/dev/null || true; }
ready_after() { [[ $(ready_count) -gt $1 ]]; }
offers_after() { [[ $(grep -c 'event=offer ' "$LOG" 2>/dev/null || true) -gt $1 ]]; }
gone() { ! kill -0 "$1" 2>/dev/null; }

daemon_start() {
	local before
	before=$(ready_count)
	env PGUSER=cw_daemon "$CWD_BIN" -c "$CONF" >>"$LOG" 2>&1 &
	DAEMON_PID=$!
	wait_until 30 "the daemon ready" ready_after "$before"
}

daemon_kill9() {
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

setup() {
	local f=$WORK/csv k
	cw_servers_start "$WORK/srv" >/dev/null || return 1
	mkdir -p "$f" "$WORK/spool" "$WORK/out"
	chmod 700 "$WORK/spool"
	head -c 32 /dev/urandom | base64 >"$WORK/key"
	cat >"$CONF" <<INI
[mqtt]
host = 127.0.0.1
port = $CW_MQ_PORT
client_id = carewatchd-chaos
topic_prefix = $P
[database]
conninfo = host=127.0.0.1 port=$CW_PGPORT dbname=carewatch
commit_timeout_s = 3
[dispatch]
retry_s = 1
escalate_after_s = 600
[spool]
dir = $WORK/spool
[privacy]
id_key_file = $WORK/key
[http]
listen = off
INI
	python3 - "$f" "$WORK/events" "$SEED" <<'PY' || return 1
import random, sys
d, events, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
open(d + "/areas.csv", "w").write(
    "code,name,parent_code\n140000000000,山西省,\n140400000000,长治市,140000000000\n"
    "140426000000,黎城县,140400000000\n140426100000,黎侯镇,140426000000\n"
    "140426100200,东关村,140426100000\n")
open(d + "/stations.csv", "w").write(
    "id,name,kind,area_code,lat,lon,capacity\n"
    "S_CC,县中心,county_center,140426000000,36.59,113.40,100\n"
    "S_V,村站,village_station,140426100200,36.52,113.40,20\n")
with open(d + "/volunteers.csv", "w") as v:
    v.write("id,name,area_code,lat,lon\n")
    for i in range(40):
        v.write("V%03d,志愿者,140426100200,%.4f,%.4f\n" % (i, 36.50 + rnd.random() * 0.02, 113.40 + rnd.random() * 0.02))
with open(d + "/elders.csv", "w") as e, open(d + "/devices.csv", "w") as dv:
    e.write("id,name,birth_date,area_code,lat,lon,categories\n")
    dv.write("id,kind,elder_id\n")
    for i in range(200):
        e.write("E%03d,老人,1940-01-01,140426100200,%.4f,%.4f,living_alone\n" % (i, 36.50 + rnd.random() * 0.02, 113.40 + rnd.random() * 0.02))
        dv.write("D%03d,sos_button,E%03d\n" % (i, i))
lines = ['D%03d\t{"id":"s-%03d","type":"sos"}' % (i, i) for i in range(200)]
lines += ['D%03d\t{"id":"h-%04d","type":"heartbeat","battery":90}' % (rnd.randrange(200), k) for k in range(3000)]
rnd.shuffle(lines)
open(events, "w").write("\n".join(lines) + "\n")
PY
	"$CLI_BIN" -c "$CONF" db migrate >/dev/null || return 1
	for k in areas stations volunteers elders devices; do
		"$CLI_BIN" -c "$CONF" import "$k" "$f/$k.csv" >/dev/null || return 1
	done
	cw_daemon_role || return 1
}

t_chaos() {
	local n rate delays i d k pg_at mq_at offers t0 t1
	n=$(wc -l <"$WORK/events")
	# publishing lasts about as long as the kills: 1.2 s each on average
	rate=$(awk -v n="$n" -v k="$KILLS" 'BEGIN { printf "%.1f", n / (k * 1.2 + 5) }')
	note "seed $SEED: $n events at $rate/s, $KILLS kills"
	daemon_start || return 1
	cw_expect_daemon_user || return 1
	t0=$(date +%s.%N)
	"$GEN_BIN" 127.0.0.1 "$CW_MQ_PORT" "$P" "$WORK/events" "$rate" "$WORK/out" 600 \
		>"$WORK/gen.out" 2>&1 &
	GEN_PID=$!
	mapfile -t delays < <(python3 -c "
import random
r = random.Random($SEED)
for _ in range($KILLS): print('%.2f' % r.uniform(0.05, 1.5))")
	pg_at=$((KILLS / 3))
	mq_at=$((KILLS * 2 / 3))
	for ((i = 1; i <= KILLS; i++)); do
		d=${delays[i - 1]}
		if ((i == pg_at)); then
			# the database stops under load (the daemon journals), and
			# the daemon is killed during the outage: the journal is
			# written back before the next start's load
			cw_pg_stop immediate || return 1
			sleep "$d" # the outage's length: random too
			daemon_kill9
			cw_pg_start >/dev/null || return 1
			daemon_start || return 1
			continue
		fi
		if ((i == pg_at + 1)); then
			# an outage the daemon lives through; the kill below may
			# fall in its write-back
			cw_pg_stop immediate || return 1
			sleep "$d"
			cw_pg_start >/dev/null || return 1
		fi
		if ((i == mq_at)); then
			cw_broker_stop TERM || return 1
			cw_broker_start >/dev/null || return 1
		fi
		if ((i % 5 == 0)); then
			# right after the daemon publishes an offer
			offers=$(grep -c 'event=offer ' "$LOG" || true)
			wait_until 10 "an offer" offers_after "$offers" >/dev/null 2>&1 || true
		else
			sleep "$d" # the random instant itself
		fi
		daemon_kill9
		daemon_start || return 1
	done
	note "kills done; waiting for every acknowledgement"
	wait_until 300 "every event acknowledged" grep -q 'events acknowledged after' "$WORK/gen.out" || return 1
	t1=$(date +%s.%N)
	# the last offers still need their answers: the generator goes on
	wait_until 120 "every incident resolved" all_resolved || {
		unresolved_report
		return 1
	}
	wait_until 30 "the spool written back" spool_empty || return 1
	kill -TERM "$GEN_PID"
	wait_until 10 "the load generator to stop" gone "$GEN_PID" || return 1
	wait "$GEN_PID"
	k=$?
	GEN_PID=
	cat "$WORK/gen.out"
	((k == 0)) || die "not every event was acknowledged" || return 1
	check_end "$n" "$t0" "$t1"
}

all_resolved() {
	[[ $(sql "SELECT count(*) FILTER (WHERE state <> 'resolved') || '/' || count(*) FROM incidents WHERE kind = 'alarm'") == 0/200 ]]
}

# What an unresolved incident was doing: its row, its offers, the answers
# stored, and the daemon's log lines about it.
unresolved_report() {
	local id
	note "alarm incidents not resolved / all: $(sql "SELECT count(*) FILTER (WHERE state <> 'resolved') || '/' || count(*) FROM incidents WHERE kind = 'alarm'")"
	note "SOS events without an incident: $(sql "SELECT string_agg(device_id || '/' || event_id || ' handled=' || handled, ', ') FROM events WHERE event_id LIKE 's-%' AND incident_id IS NULL")"
	for id in $(sql "SELECT id FROM incidents WHERE kind = 'alarm' AND state <> 'resolved' ORDER BY id LIMIT 5"); do
		note "incident $id: $(sql "SELECT row_to_json(i)::text FROM incidents i WHERE id = $id")"
		note "  offers: $(sql "SELECT string_agg(row_to_json(o)::text, ' ') FROM offers o WHERE incident_id = $id")"
		note "  replies: $(sql "SELECT string_agg(row_to_json(r)::text, ' ') FROM replies r WHERE incident_id = $id")"
		note "  history: $(sql "SELECT string_agg(row_to_json(h)::text, ' ') FROM incident_history h WHERE incident_id = $id")"
		note "  log: $(grep -E "incident=$id( |\$)" "$LOG" | tail -n 12 | tr '\n' '|')"
	done
}

spool_empty() { [[ $(stat -c %s "$WORK/spool/spool.journal" 2>/dev/null || echo 0) == 0 ]]; }

check_end() { # events t0 t1
	local n=$1 stored dup
	stored=$(sql "SELECT count(*) FROM events WHERE event_id LIKE 's-%' OR event_id LIKE 'h-%'")
	expect_eq "$n" "$stored" "events stored (each once: the key is unique)" || return 1
	dup=$(sort "$WORK/out/acks" | uniq -d | wc -l)
	note "acknowledgements: $(wc -l <"$WORK/out/acks") for $n events ($dup events acknowledged more than once: redelivered after a kill, stored once)"
	expect_eq "200 200 200" "$(sql "SELECT count(*) FILTER (WHERE handled AND incident_id IS NOT NULL) || ' ' || count(DISTINCT incident_id) || ' ' || (SELECT count(*) FROM incidents WHERE kind = 'alarm') FROM events WHERE event_id LIKE 's-%'")" \
		"SOS handled, their incidents, alarm incidents: one each" || return 1
	expect_eq 0 "$(sort -u "$WORK/out/offers" | awk '{ print $2 "/" $3 }' | sort | uniq -d | wc -l)" \
		"offer numbers sent to two responders" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM incidents a JOIN incidents b ON a.responder_id = b.responder_id AND a.id < b.id
	     WHERE a.responder_id LIKE 'V%' AND a.accepted_at < b.resolved_at AND b.accepted_at < a.resolved_at")" \
		"volunteers holding two incidents at once" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM (SELECT incident_id, seq FROM offers GROUP BY 1, 2 HAVING count(*) > 1) x")" \
		"offer rows repeated" || return 1
	note "figure: $n events, $KILLS kills, 2 database stops, 1 broker restart; lost $((n - stored)), duplicated 0; $(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", b - a }') s"
	note "kills logged by restarts: $(grep -c 'event=starting' "$LOG") starts, $(grep -c 'event=spool_written_back' "$LOG") write-backs, $(grep -c 'event=spool_torn_tail' "$LOG") torn tails"
	if grep -E -q '老人|志愿者' "$LOG"; then
		die "personal data in the daemon log"
		return 1
	fi
}

run() { # name function
	echo "--- $1"
	if $2; then
		pass=$((pass + 1))
		echo "PASS: $1"
	else
		fail=$((fail + 1))
		failed_names+=("$1")
		echo "FAIL: $1"
		tail -n 30 "$LOG" 2>/dev/null | sed 's/^/      /'
		tail -n 5 "$WORK/gen.out" 2>/dev/null | sed 's/^/      /'
	fi
}

if ! setup; then
	echo "chaos: setup failed"
	echo "scenarios: 0 passed, 1 failed"
	exit 1
fi
run "$KILLS kills -9 under load, 2 database stops, a broker restart: nothing lost or doubled" t_chaos
echo
echo "scenarios: $pass passed, $fail failed"
((fail == 0)) || {
	printf '  failed: %s\n' "${failed_names[@]}"
	exit 1
}
