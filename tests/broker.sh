#!/bin/bash
# broker.sh - least privilege at the broker (issue 9, SPEC §8): a real
# mosquitto run with the shipped etc/mosquitto/carewatch.conf (ports and
# paths changed, its TLS listener switched on with a CA made here), the
# password and ACL files written by `carewatch broker passwd|acl`, and the
# daemon on its own account. Devices and responders talk over TLS with the
# passwords `broker passwd` gave them. Checks that a device cannot publish
# as another, cannot read the offers, and that bad passwords and
# certificates are refused. The daemon itself connects over TLS to a host
# name that only tests/fakedns.py knows, and refuses a broker whose
# certificate is for another name.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CLI_BIN=$top_builddir/cli/carewatch
CWD_BIN=$top_builddir/daemon/carewatchd
# shellcheck source=lib/servers.sh
. "$top_srcdir/tests/lib/servers.sh"
# shellcheck source=lib/check.sh
. "$top_srcdir/tests/lib/check.sh"
# shellcheck source=lib/county.sh
. "$top_srcdir/tests/lib/county.sh"

# the CLI as the owner; the daemon as cw_daemon (migration 015's role)
export PGUSER=postgres
WORK=$(mktemp -d /tmp/cw-broker.XXXXXX)
chmod 755 "$WORK"
B=$WORK/broker
CONF=$WORK/carewatchd.conf
P=carewatch
DAEMON_PID=
SEC_PID=
SPY_PID=
DNS_PID=

cleanup() {
	if [[ -n $DAEMON_PID ]]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	[[ -n $SPY_PID ]] && kill "$SPY_PID" 2>/dev/null
	[[ -n $DNS_PID ]] && kill "$DNS_PID" 2>/dev/null
	if [[ -n $SEC_PID ]]; then
		kill "$SEC_PID" 2>/dev/null
		wait_until 10 "the secured broker to stop" _gone "$SEC_PID" >/dev/null
	fi
	cw_servers_stop
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
_gone() { ! kill -0 "$1" 2>/dev/null; }

pass=0
fail=0
failed_names=()

sql() {
	"$CW_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CW_CONNINFO" -c "$1"
}
cw() { "$CLI_BIN" -c "$CONF" "$@"; }

# the password `broker passwd` gave a client
pw() { awk -F, -v u="$1" '$1 == u { print $3 }' "$WORK/new.csv"; }

# mosquitto_pub / _sub as a client over TLS
tls_pub() { # user topic message [password]
	mosquitto_pub -h 127.0.0.1 -p "$TLS_PORT" --cafile "$B/ca.crt" -q 1 \
		-i "pub-$1-$RANDOM" -u "$1" -P "${4:-$(pw "$1")}" -t "$2" -m "$3"
}

ack_seen() { grep -q "\"id\":\"$1\"" "$WORK/d1.acks" 2>/dev/null; }
stored() { [[ $(sql "SELECT count(*) FROM events WHERE event_id = '$1'") == 1 ]]; }
offer_seen() { grep -q '"offer":1' "$WORK/v1.msgs" 2>/dev/null; }
d2_ack_seen() { grep -q "dev/D2/ack" "$WORK/spy.msgs" 2>/dev/null; }
ready() { grep -q 'event=ready' "$WORK/daemon.log"; }
mqtt_up() { grep -q 'event=mqtt_up' "$WORK/daemon.log"; }

# A CA and a server certificate for broker.cw.test and 127.0.0.1, made for
# this run; and one from the same CA for another name.
make_certs() {
	mkdir -p "$B"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=carewatch test CA" \
		-keyout "$B/ca.key" -out "$B/ca.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$B/server.key" -out "$B/server.csr" 2>/dev/null || return 1
	printf 'subjectAltName=DNS:broker.cw.test,IP:127.0.0.1\n' >"$B/san.ext"
	openssl x509 -req -in "$B/server.csr" -CA "$B/ca.crt" -CAkey "$B/ca.key" \
		-CAcreateserial -days 2 -extfile "$B/san.ext" -out "$B/server.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=elsewhere.example" \
		-keyout "$B/wrong.key" -out "$B/wrong.csr" 2>/dev/null || return 1
	printf 'subjectAltName=DNS:elsewhere.example\n' >"$B/wrong.ext"
	openssl x509 -req -in "$B/wrong.csr" -CA "$B/ca.crt" -CAkey "$B/ca.key" \
		-CAcreateserial -days 2 -extfile "$B/wrong.ext" -out "$B/wrong.crt" 2>/dev/null || return 1
	# a CA nobody trusts, for the refusal check
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
		-keyout "$B/other.key" -out "$B/other.crt" 2>/dev/null
}

# The shipped configuration with this run's ports and paths, and its TLS
# listener on.
secured_conf() {
	local user=
	if [[ $(id -u) -eq 0 ]]; then
		user="user $(id mosquitto >/dev/null 2>&1 && echo mosquitto || echo root)"
		[[ $user == "user mosquitto" ]] && chown -R mosquitto: "$B"
	fi
	sed -e "s|^listener 1883 127.0.0.1|listener $PLAIN_PORT 127.0.0.1|" \
		-e "s|^#listener 8883|listener $TLS_PORT 127.0.0.1|" \
		-e "s|^#protocol mqtt|protocol mqtt|" \
		-e "s|^#certfile .*|certfile $B/server.crt|" \
		-e "s|^#keyfile .*|keyfile $B/server.key|" \
		-e "s|^#cafile .*|cafile $B/ca.crt|" \
		-e "s|^#tls_version |tls_version |" \
		-e "s|^password_file .*|password_file $B/passwd|" \
		-e "s|^acl_file .*|acl_file $B/acl|" \
		"$top_srcdir/etc/mosquitto/carewatch.conf" >"$B/mosquitto.conf"
	cat >>"$B/mosquitto.conf" <<EOF
$user
persistence_location $B/
log_dest file $B/mosquitto.log
log_type all
# a listener whose certificate names another host
listener $WRONG_PORT 127.0.0.1
certfile $B/wrong.crt
keyfile $B/wrong.key
cafile $B/ca.crt
EOF
}

setup() {
	cw_servers_start "$WORK/srv" >/dev/null || return 1
	head -c 32 /dev/urandom | base64 >"$WORK/key"
	make_fixture
	PLAIN_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT") || return 1
	TLS_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT" "$PLAIN_PORT") || return 1
	WRONG_PORT=$(cw_free_port "$CW_PGPORT" "$CW_MQ_PORT" "$PLAIN_PORT" "$TLS_PORT") || return 1
	# the broker's name, known to this name server only
	cw_fakedns "$WORK/dns" answer broker.cw.test=127.0.0.1 || return 1
	DNS_PID=$CW_DNS_PID
	head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$WORK/daemon.pw"
	chmod 600 "$WORK/daemon.pw"
	cat >"$CONF" <<INI
[mqtt]
host = broker.cw.test
port = $TLS_PORT
cafile = $B/ca.crt
client_id = carewatchd-broker-test
username = carewatchd
password_file = $WORK/daemon.pw
z2m_base = zigbee2mqtt, z2m/site-2
[database]
conninfo = $CW_CONNINFO_PGUSER
[spool]
dir = $WORK/spool
[privacy]
id_key_file = $WORK/key
[http]
listen = off
[daemon]
resolv_conf = $WORK/dns/resolv.conf
INI
	mkdir -p "$WORK/spool"
	chmod 700 "$WORK/spool"
	cw db migrate >/dev/null || return 1
	local k
	for k in areas stations volunteers elders devices; do
		cw import "$k" "$WORK/csv/$k.csv" >/dev/null || return 1
	done
	cw_daemon_role || return 1
	make_certs || return 1
}

t_passwd_and_acl() {
	cw broker passwd -o "$B/passwd" --new-credentials "$WORK/new.csv" >"$WORK/out" || return 1
	cat "$WORK/out"
	expect_eq 600 "$(stat -c %a "$WORK/new.csv")" "new credentials' mode" || return 1
	expect_eq 640 "$(stat -c %a "$B/passwd")" "password file's mode" || return 1
	# 7 devices, 3 stations, 4 volunteers, 2 bridges; the daemon's
	# password is its own file's
	expect_eq "D1 D2 D3 D4 D5 D6 D7 S_CC S_HOME S_OFF V1 V2 V3 V_FAR z2m_site-2 zigbee2mqtt" \
		"$(tail -n +2 "$WORK/new.csv" | cut -d, -f1 | sort | tr '\n' ' ' | sed 's/ $//')" \
		"accounts given a password" || return 1
	expect_eq 17 "$(grep -c ':\$7\$101\$' "$B/passwd")" "hashes in the password file" || return 1
	grep -q '^carewatchd:\$7\$' "$B/passwd" || die "the daemon's account" || return 1
	if grep -q -F "$(cat "$WORK/daemon.pw")" "$B/passwd" "$WORK/new.csv"; then
		die "the daemon's password in clear"
		return 1
	fi
	if grep -q -E '张|李|1390000000|1380000000' "$WORK/new.csv" "$B/passwd"; then
		die "personal data in the broker files"
		return 1
	fi
	# again: nothing new, nothing written to a credentials file
	cw broker passwd -o "$B/passwd" >"$WORK/out2" || die "second run: $(cat "$WORK/out2")" || return 1
	grep -q '17 accounts (0 new' "$WORK/out2" || die "second run said: $(cat "$WORK/out2")" || return 1
	cw broker acl -o "$B/acl" >/dev/null || return 1
	grep -q '^pattern write carewatch/dev/%u/event$' "$B/acl" || die "device pattern" || return 1
	grep -q '^pattern read carewatch/dispatch/%u$' "$B/acl" || die "offer pattern" || return 1
	grep -q '^topic read z2m/site-2/#$' "$B/acl" || die "daemon reads the second bridge" || return 1
}

t_collision_refused() {
	sql "INSERT INTO devices (id, kind, elder_id) VALUES ('V2', 'smoke', 'E1')" || return 1
	if cw broker acl -o "$WORK/acl2" 2>"$WORK/err"; then
		die "a device named like a volunteer was accepted"
		return 1
	fi
	note "refused: $(cat "$WORK/err")"
	grep -q '"V2" would be a device and responder' "$WORK/err" || return 1
	[[ ! -e $WORK/acl2 ]] || die "a file was written" || return 1
	sql "DELETE FROM devices WHERE id = 'V2'"
}

t_start() {
	secured_conf
	mosquitto -c "$B/mosquitto.conf" >"$WORK/mosquitto.out" 2>&1 &
	SEC_PID=$!
	wait_until 10 "the secured broker's TLS port" _cw_port_open "$TLS_PORT" || {
		cat "$WORK/mosquitto.out" "$B/mosquitto.log" 2>/dev/null | tail -5
		return 1
	}
	# first at the listener whose certificate names another host: refused
	# before the daemon says who it is
	sed "s/^port = $TLS_PORT\$/port = $WRONG_PORT/" "$CONF" >"$WORK/wrong.conf"
	env PGUSER=cw_daemon "$CWD_BIN" -c "$WORK/wrong.conf" >>"$WORK/wrong.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 15 "the daemon to refuse elsewhere.example" \
		grep -q 'event=mqtt_tls_refused host=broker.cw.test reason="hostname mismatch' "$WORK/wrong.log" || return 1
	kill "$DAEMON_PID"
	wait "$DAEMON_PID"
	DAEMON_PID=
	grep -q 'event=mqtt_up' "$WORK/wrong.log" && die "connected to a broker with another name's certificate" && return 1
	note "refused: $(grep -m1 'event=mqtt_tls_refused' "$WORK/wrong.log")"
	grep -q 'u.carewatchd' "$B/mosquitto.log" && die "the daemon logged in at the wrong listener" && return 1
	# then over TLS to broker.cw.test, looked up and checked by name
	env PGUSER=cw_daemon "$CWD_BIN" -c "$CONF" >>"$WORK/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 10 "daemon ready" ready || return 1
	wait_until 10 "the daemon's broker session" mqtt_up || return 1
	cw_expect_daemon_user || return 1
	grep -q 'event=mqtt_resolved host=broker.cw.test addr=127.0.0.1' "$WORK/daemon.log" ||
		die "the broker's name looked up" || return 1
}

t_refusals() {
	if tls_pub D1 "$P/dev/D1/event" '{"id":"e-badpw","type":"heartbeat"}' wrong-password 2>"$WORK/err"; then
		die "a wrong password was accepted"
		return 1
	fi
	note "wrong password: $(head -c 120 "$WORK/err")"
	if mosquitto_pub -h 127.0.0.1 -p "$TLS_PORT" --cafile "$B/other.crt" -u D1 -P "$(pw D1)" \
		-t "$P/dev/D1/event" -m '{"id":"e-badca","type":"heartbeat"}' 2>"$WORK/err"; then
		die "a server certificate from another CA was accepted"
		return 1
	fi
	note "unknown CA: $(head -c 120 "$WORK/err")"
	if mosquitto_pub -h 127.0.0.1 -p "$TLS_PORT" -u D1 -P "$(pw D1)" \
		-t "$P/dev/D1/event" -m '{"id":"e-plain","type":"heartbeat"}' 2>/dev/null; then
		die "plain MQTT was accepted on the TLS port"
		return 1
	fi
	if mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -t "$P/dev/D1/event" \
		-m '{"id":"e-anon","type":"heartbeat"}' 2>/dev/null; then
		die "an anonymous client was accepted"
		return 1
	fi
}

t_least_privilege() {
	# V1 reads its own offers; D1 its own acks; D2 tries to read all offers
	mosquitto_sub -h 127.0.0.1 -p "$TLS_PORT" --cafile "$B/ca.crt" -q 1 -i sub-v1 \
		-u V1 -P "$(pw V1)" -t "$P/dispatch/V1" -v >"$WORK/v1.msgs" 2>&1 &
	local v1=$!
	mosquitto_sub -h 127.0.0.1 -p "$TLS_PORT" --cafile "$B/ca.crt" -q 1 -i sub-d1 \
		-u D1 -P "$(pw D1)" -t "$P/dev/D1/ack" -v >"$WORK/d1.acks" 2>&1 &
	local d1=$!
	mosquitto_sub -h 127.0.0.1 -p "$TLS_PORT" --cafile "$B/ca.crt" -q 1 -i sub-spy \
		-u D2 -P "$(pw D2)" -t "$P/dispatch/#" -t "$P/dev/D2/ack" -v >"$WORK/spy.msgs" 2>&1 &
	SPY_PID=$!
	# subscriptions are in place once a probe is acknowledged to D1
	local i
	for ((i = 1; i <= 50; i++)); do
		tls_pub D1 "$P/dev/D1/event" "{\"id\":\"probe-$i\",\"type\":\"heartbeat\"}" || return 1
		if wait_until 0.2 "probe $i" ack_seen "probe-$i" >/dev/null 2>&1; then break; fi
	done
	ack_seen "probe-$i" || die "D1 never saw its own ack" || return 1
	# D1 publishing as D2: the broker drops it
	tls_pub D1 "$P/dev/D2/event" '{"id":"e-spoof","type":"sos"}' || return 1
	# D1's own SOS: stored, acknowledged, offered to V1 over TLS
	tls_pub D1 "$P/dev/D1/event" '{"id":"e-own","type":"sos"}' || return 1
	wait_until 10 "D1's SOS acknowledged" ack_seen e-own || return 1
	wait_until 10 "the offer at V1" offer_seen || return 1
	stored e-own || die "D1's own event not stored" || return 1
	# the spoof went before e-own on the same connection order; e-own is in
	expect_eq 0 "$(sql "SELECT count(*) FROM events WHERE event_id = 'e-spoof'")" "D1's event published as D2" || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM dead_letters")" "dead letters (the spoof never reached the daemon)" || return 1
	# D2 reads its own ack, published after the offer: by then the offer
	# would have reached it too
	tls_pub D2 "$P/dev/D2/event" '{"id":"e-d2","type":"heartbeat"}' || return 1
	wait_until 10 "D2's own ack at the spy" d2_ack_seen || return 1
	expect_eq 0 "$(grep -c '/dispatch/' "$WORK/spy.msgs")" "offers read by device D2 subscribed to dispatch/#" || return 1
	# a responder cannot answer in another's name
	tls_pub V2 "$P/resp/V1/reply" "{\"incident\":$(sed -E 's/.*"incident":([0-9]+).*/\1/;q' "$WORK/v1.msgs"),\"action\":\"decline\"}" || return 1
	tls_pub D1 "$P/dev/D1/event" '{"id":"e-sync","type":"heartbeat"}' || return 1
	wait_until 10 "a later ack" ack_seen e-sync || return 1
	expect_eq 0 "$(sql "SELECT count(*) FROM replies")" "replies stored from V2 as V1" || return 1
	grep -q 'Denied PUBLISH from pub-D1' "$B/mosquitto.log" || note "(mosquitto did not log the denial)"
	kill "$v1" "$d1" "$SPY_PID" 2>/dev/null
	wait "$v1" "$d1" "$SPY_PID" 2>/dev/null
	SPY_PID=
}

t_personal_data() {
	if grep -E -q '张桂兰|13900000001|140426194|Hidden St' "$WORK/daemon.log" "$B/mosquitto.log"; then
		die "personal data in a log"
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
		tail -n 5 "$WORK/daemon.log" "$B/mosquitto.log" 2>/dev/null | sed 's/^/      /'
	fi
}

if ! setup; then
	echo "broker: setup failed"
	echo "scenarios: 0 passed, 1 failed"
	exit 1
fi
run "broker passwd and acl from the tables, no personal data" t_passwd_and_acl
run "a name shared by a device and a responder is refused" t_collision_refused
run "the shipped configuration with TLS starts; the daemon logs in" t_start
run "wrong password, unknown CA, plain on TLS, anonymous: refused" t_refusals
run "a device cannot publish as another or read offers" t_least_privilege
run "no personal data in the daemon's or the broker's log" t_personal_data
echo
echo "scenarios: $pass passed, $fail failed"
((fail == 0)) || {
	printf '  failed: %s\n' "${failed_names[@]}"
	exit 1
}
