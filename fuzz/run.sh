#!/bin/bash
# run.sh - builds the libFuzzer targets of fuzz/ with clang (-fsanitize=
# fuzzer,address,undefined) straight from the sources, makes their seed
# corpora from the tests' fixtures, replays every saved regression input,
# then fuzzes each target for FUZZ_SECONDS (default 60).
#
#   fuzz/run.sh BUILDDIR [TARGET...]     (make fuzz does this)
#
# BUILDDIR is a configured build tree (for config.h). Work files go to
# BUILDDIR/fuzz-work: the binaries, the corpora (kept between runs, so
# fuzzing goes on where it stopped) and the crash files. A crash, leak or
# sanitizer report fails the run and prints the reproducer's path; copy it
# into fuzz/regress/TARGET/ once fixed. Prints one line per target with its
# executions and their rate.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: fuzz/run.sh BUILDDIR [TARGET...]}" && pwd)
shift
secs=${FUZZ_SECONDS:-60}
work=$build/fuzz-work
all=(device z2m owntracks conf csv http)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
CC=${FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null; then
	echo "fuzz: $CC not installed (Debian: clang)" >&2
	exit 1
fi
mkdir -p "$work"

# the sources each target needs besides itself
sources() {
	local c="$src/common/*.c"
	case $1 in
	device | http) echo "$c $src/daemon/ingest.c" ;;
	z2m) echo "$c $src/daemon/z2m.c $src/daemon/ingest.c" ;;
	owntracks) echo "$c $src/daemon/owntracks.c" ;;
	*) echo "$c" ;;
	esac
}

build_one() { # target
	local t=$1 out=$work/fuzz_$1
	# shellcheck disable=SC2046
	"$CC" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I"$build" -I"$src/common" -I"$src/daemon" \
		$(pkg-config --cflags jansson) -o "$out" "$src/fuzz/fuzz_$t.c" \
		$(sources "$t") $(pkg-config --libs jansson) -lm
}

# one file per seed, named by its hash
seed() { # dir prefix-byte text
	local f
	f=$1/$(printf '%s%s' "$2" "$3" | sha1sum | cut -c1-16)
	printf '%s%s' "$2" "$3" >"$f"
}

make_seeds() { # target dir
	local t=$1 d=$2 f
	mkdir -p "$d"
	case $t in
	device)
		seed "$d" $'\x00' '{"id":"e-000123","type":"sos","ts":"2026-11-20T10:00:00+08:00","battery":87,"lat":36.5,"lon":113.4,"data":{"k":1}}'
		seed "$d" $'\x00' '{"id":"e-9","type":"smoke","state":"clear","ts":1763604000000}'
		seed "$d" $'\x00' '{"id":"h1","type":"heartbeat"}'
		seed "$d" $'\x01' 'online'
		seed "$d" $'\x01' '{"state":"offline"}'
		seed "$d" $'\x02' '{"incident":1042,"action":"accept","note":"on my way"}'
		seed "$d" $'\x02' '{"incident":7,"action":"done","outcome":"false_alarm"}'
		seed "$d" $'\x03' '{"id":"v-77","elder":"E1001","at":"2026-11-20T10:00:00+08:00","kind":"routine","in_person":true,"note":"well, needs coal"}'
		seed "$d" $'\x03' '{"id":"v-78","elder":"E1001","at":"2026-11-20T10:00:00Z","kind":"phone","in_person":false}'
		seed "$d" $'\x04' 'carewatch/dev/D-0001/event'
		seed "$d" $'\x04' 'carewatch/resp/V1/reply'
		;;
	z2m)
		python3 - "$src/tests/fixtures/z2m/corpus.jsonl" "$d" <<'PY'
import hashlib, json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    p = json.dumps(json.loads(line)["payload"], ensure_ascii=False).encode()
    open("%s/%s" % (sys.argv[2], hashlib.sha1(p).hexdigest()[:16]), "wb").write(p)
PY
		seed "$d" T 'zigbee2mqtt/kitchen smoke'
		seed "$d" T 'z2m/site-2/bridge/state'
		seed "$d" T 'zigbee2mqtt/sos 1/availability'
		;;
	http)
		seed "$d" $'\x00' '{"note":"phoned the elder, she is fine"}'
		seed "$d" $'\x01' '{"outcome":"false_alarm","note":"pressed by mistake"}'
		seed "$d" $'\x02' '{"responder":"V1"}'
		seed "$d" $'\x03' '{"id":"v-77","elder":"E1001","at":"2026-11-20T10:00:00+08:00","kind":"routine","in_person":true,"responder":"V1"}'
		seed "$d" $'\x03' '{"id":"v-78","elder":"E1001","at":"2026-11-20T10:00:00Z","kind":"phone"}'
		seed "$d" $'\x01' ''
		;;
	owntracks)
		seed "$d" '' '{"_type":"location","lat":36.5,"lon":113.4,"tst":1763604000,"acc":12}'
		seed "$d" '' '{"_type":"transition","event":"enter"}'
		seed "$d" T 'owntracks/li/phone'
		;;
	conf)
		for f in "$src/tests/fixtures/spec7.conf" "$src/etc/carewatchd.conf"; do
			[[ -f $f ]] && cp "$f" "$d/$(basename "$f")"
		done
		;;
	csv)
		for f in "$src"/sql/sample/*.csv; do
			head -c 4000 "$f" >"$d/u-$(basename "$f")"
			{ printf '\x00'; head -c 4000 "$f"; } >"$d/u0-$(basename "$f")"
			{
				printf '\x01'
				head -c 4000 "$f" | iconv -f UTF-8 -t GB18030 -c
			} >"$d/g-$(basename "$f")"
		done
		;;
	esac
}

status=0
for t in "${targets[@]}"; do
	if [[ ! -f $src/fuzz/fuzz_$t.c ]]; then
		echo "fuzz: no target $t (${all[*]})" >&2
		status=1
		continue
	fi
	if ! build_one "$t"; then
		echo "fuzz: $t: build failed" >&2
		status=1
		continue
	fi
	corpus=$work/corpus-$t
	[[ -d $corpus ]] || make_seeds "$t" "$corpus"
	mkdir -p "$work/crash-$t"
	# saved regressions first: each must run clean
	if [[ -d $src/fuzz/regress/$t ]] && compgen -G "$src/fuzz/regress/$t/*" >/dev/null; then
		if ! "$work/fuzz_$t" -runs=0 "$src/fuzz/regress/$t"/* >"$work/regress-$t.log" 2>&1; then
			echo "fuzz: $t: a regression input fails again, see $work/regress-$t.log" >&2
			status=1
			continue
		fi
	fi
	log=$work/fuzz-$t.log
	if "$work/fuzz_$t" -max_total_time="$secs" -max_len=8192 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/crash-$t/" "$corpus" >"$log" 2>&1; then
		res=ok
	else
		res=FAILED
		status=1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
	printf '%-10s %-6s %12s executions in %ss (%s/s), corpus %s inputs\n' \
		"$t" "$res" "${runs:-?}" "$secs" "${rate:-?}" "$(find "$corpus" -type f | wc -l)"
	if [[ $res != ok ]]; then
		grep -m1 -E 'ERROR|runtime error|deadly signal' "$log" >&2
		ls "$work/crash-$t" >&2
	fi
done
exit $status
