#!/bin/bash
# test.sh - the project's test command (README, .ci/run): installs missing
# dependencies, checks formatting and the systemd unit, builds, runs
# `make check` (the Check unit tests, tests/scenarios.sh,
# tests/packet_order.sh, tests/spec7.sh, tests/operators_cli.sh, the
# console's browser test tests/console.sh, tests/http.sh, the reports'
# tests/reports.sh, tests/report_response.sh and tests/report_html.sh (the
# printable page), tests/visits.sh, tests/broker.sh, the kill test
# tests/chaos.sh and the active/standby pair tests/failover.sh against
# private servers), then
# `make distcheck` (the
# tarball builds out of tree from a read-only copy and passes the same
# tests), then fuzzes every parser for a minute each (fuzz/run.sh). Exits
# non-zero when anything fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

failed=()

# Prints a section header.
step() {
	printf '\n== %s\n' "$*"
}

step "dependencies"
tests/lib/install-deps.sh

step "clang-format"
shopt -s nullglob
sources=(common/*.[ch] daemon/*.[ch] cli/*.[ch] tools/*.[ch] bench/*.c tests/*.c fuzz/*.c)
shopt -u nullglob
unformatted=()
for f in "${sources[@]}"; do
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		unformatted+=("$f")
		# Show what would change, briefly.
		clang-format "$f" | diff -u "$f" - | head -n 30 || true
	fi
done
if ((${#unformatted[@]} > 0)); then
	echo "clang-format: ${#unformatted[@]} of ${#sources[@]} files differ from .clang-format" \
		"(make format fixes them): ${unformatted[*]}"
	failed+=(clang-format)
else
	echo "${#sources[@]} files formatted"
fi

step "systemd unit"
if command -v systemd-analyze >/dev/null 2>&1; then
	unit=systemd/carewatchd.service
	tmp=$(mktemp -d)
	# verify wants ExecStart= to exist: check a copy whose ExecStart is
	# /bin/true, the rest unchanged.
	sed 's|^ExecStart=[^ ]*|ExecStart=/bin/true|' "$unit" >"$tmp/carewatchd.service"
	if out=$(systemd-analyze verify "$tmp/carewatchd.service" 2>&1) && [[ -z $out ]]; then
		echo "systemd-analyze verify: clean"
	else
		printf '%s\n' "$out"
		failed+=(unit-verify)
	fi
	rm -rf "$tmp"
	# SPEC §8: overall exposure at most 2.0.
	if out=$(systemd-analyze security --offline=true --threshold=20 "$unit" 2>&1); then
		grep 'Overall exposure' <<<"$out" || true
	else
		printf '%s\n' "$out" | tail -n 5
		failed+=(unit-security)
	fi
else
	echo "systemd-analyze not installed: skipped"
fi

step "build"
mkdir -p m4
if ! { autoreconf -fi && ./configure && make -j2; }; then
	echo "build failed"
	exit 1
fi

step "make check"
check_ok=1
make -j2 check || check_ok=0

# Count single checks, not programs: Check prints "Checks: N, Failures: F,
# Errors: E" per suite and scenarios.sh "scenarios: P passed, F failed". A
# program that failed without such a line counts as one failure.
pass=0 fail=0 skip=0
for trs in tests/*.trs; do
	[[ -f $trs ]] || continue
	log=${trs%.trs}.log
	verdict=$(sed -n 's/^:test-result: \([A-Z]*\).*/\1/p' "$trs")
	line=$(grep -a -E '^[0-9]+%: Checks: [0-9]+|^scenarios: [0-9]+ passed' "$log" | tail -n 1)
	if [[ $line =~ Checks:\ ([0-9]+),\ Failures:\ ([0-9]+),\ Errors:\ ([0-9]+) ]]; then
		n=${BASH_REMATCH[1]} f=$((BASH_REMATCH[2] + BASH_REMATCH[3]))
		pass=$((pass + n - f)) fail=$((fail + f))
	elif [[ $line =~ scenarios:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		pass=$((pass + BASH_REMATCH[1])) fail=$((fail + BASH_REMATCH[2]))
	elif [[ $verdict == SKIP ]]; then
		skip=$((skip + 1))
	elif [[ $verdict != PASS ]]; then
		fail=$((fail + 1))
	fi
	# a program that failed after its summary still fails the run
	if [[ $verdict != PASS && $verdict != SKIP ]] && ((check_ok == 1)); then
		check_ok=0
	fi
done

# a build or harness failure before any test reported counts too
if ((check_ok == 0 && fail == 0)); then
	fail=1
fi
if ((check_ok == 0)); then
	failed+=(make-check)
	# test-suite.log holds the log of every failed test.
	while IFS= read -r log; do
		step "$log"
		cat "$log"
	done < <(find . -name 'test-suite.log' -not -path './autom4te.cache/*')
fi

# distcheck builds the tarball out of tree, with ASan and UBSan
# (AM_DISTCHECK_CONFIGURE_FLAGS), and runs make check in it again:
# every test (unit tests and scenarios, no skips) must pass there too, so a
# file missing from the tarball or a test writing into the source tree fails
# here rather than for whoever unpacks a release.
step "make distcheck"
distlog=$(mktemp /tmp/cw-distcheck.XXXXXX)
if ((check_ok == 0)); then
	echo "not run: make check failed already"
elif make -j2 distcheck >"$distlog" 2>&1; then
	# the inner make check's summary: "# TOTAL: 7", "# PASS: 7", ...
	summary=$(sed -n 's/^# \(TOTAL\|PASS\|SKIP\|FAIL\|XFAIL\|XPASS\|ERROR\): *\([0-9]*\)$/\1 \2/p' \
		"$distlog" | tr '\n' ' ')
	echo "make distcheck: passed; its make check: ${summary:-no summary}"
	if [[ ! $summary =~ TOTAL\ ([1-9][0-9]*) ]] || [[ ! $summary =~ SKIP\ 0 ]]; then
		echo "make distcheck ran no tests or skipped some"
		failed+=(distcheck)
	fi
else
	echo "make distcheck failed; the end of its output:"
	tail -n 60 "$distlog"
	# a failed make check inside it leaves its logs under carewatch-*/
	find . -path './carewatch-*' -name 'test-suite.log' -exec cat {} + 2>/dev/null || true
	failed+=(distcheck)
fi
rm -f "$distlog"

# every parser under libFuzzer with ASan and UBSan (fuzz/run.sh): the saved
# regression inputs first, then CW_FUZZ_SECONDS (60) per target
step "fuzz"
if FUZZ_SECONDS=${CW_FUZZ_SECONDS:-60} fuzz/run.sh .; then
	echo "fuzz: no crash"
else
	failed+=(fuzz)
fi

step "result"
echo "tests: $pass passed, $fail failed, $skip skipped"
if ((${#failed[@]} > 0)); then
	echo "FAILED: ${failed[*]}"
	exit 1
fi
echo "all checks passed"
