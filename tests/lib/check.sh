# shellcheck shell=bash
# check.sh - what every scenario script (scenarios.sh, spec7.sh,
# packet_order.sh) checks with: messages, assertions and bounded waits.
#
#   . tests/lib/check.sh
#   wait_until 5 "the offer" grep -q offer "$MSGS" || return 1
#   expect_eq 1 "$(sql ...)" "incidents" || return 1
#
# Every function that checks returns non-zero with a "FAIL:" line, so that
# a scenario ends with `|| return 1`. Every wait has a deadline.

# An indented line of the scenario's progress.
note() { echo "    $*"; }

# Fails the current scenario with a message.
die() {
	echo "    FAIL: $*"
	return 1
}

expect_eq() { # expected actual what
	if [[ "$1" != "$2" ]]; then
		die "$3: expected '$1', got '$2'"
		return 1
	fi
	note "ok: $3 = $2"
}

# Polls a shell condition every 50 ms until it holds or the deadline passes
# (seconds may have a fraction).
wait_until() { # seconds description command...
	local secs=$1 what=$2 i n
	shift 2
	n=$(awk -v s="$secs" 'BEGIN{printf "%d", s*20}')
	for ((i = 0; i < n; i++)); do
		if "$@"; then return 0; fi
		sleep 0.05
	done
	die "timed out after ${secs}s waiting for $what"
}

# True once SECS seconds have passed since the epoch time T0.
elapsed_since() { # t0 secs
	awk -v t0="$1" -v s="$2" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - t0 >= s) }'
}
