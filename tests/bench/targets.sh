#!/usr/bin/env bash
# The targets of issue 13, measured against the YAML parse floor of the same input in the same
# run (see tests/bench/README.md, "Benchmark: the targets of issue 13").
#
#   tests/bench/targets.sh BUILD_DIR
#
# At 10,000 domains / 100,000 mailboxes, for both shapes of the desired state (one file as
# `mailrecon import` prints it, and the same split into 100 files), each command is timed with
# benchrun, RUNS times (BENCH_RUNS, default 5) after 1 warm-up, each run right after a run of
# `floor` on the same input, and compared with its target:
#   validate -f                              <= 2.5x floor
#   plan, nothing to change / 1% changed     <= 4x floor and <= 120 MB peak RSS
#   apply, nothing to change                 <= 5x floor and nothing written below the root
#   first apply into an empty tree           <= 10 s (median of BENCH_APPLY_RUNS, default 3,
#                                               each into a fresh copy of the empty tree), with
#                                               its mkdir calls counted by strace in one more,
#                                               untimed run (one-file shape only)
# BENCH_BIG=1 adds 100,000 domains / 1,000,000 mailboxes (the 10k import replicated ten times
# under new names) and the ratios of its time and RSS to the 10k figures (<= 11); a shape or a
# command that mailrecon's 64 MiB file limit rules out is printed as skipped.
# A report, not a test: exits 0 whatever the figures, 1 when a command fails (the report is
# still printed in full), 64 on a usage error.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 64
fi
build=$1
mailrecon=$build/mailrecon
gen=$build/tests/bench/gen_live
benchrun=$build/tests/bench/benchrun
floor=$build/tests/bench/floor
for exe in "$mailrecon" "$gen" "$benchrun" "$floor"; do
	if [[ ! -x $exe ]]; then
		echo "$0: $exe not found; build it: cmake --build $build --target mailrecon gen_live benchrun floor" >&2
		exit 1
	fi
done
runs=${BENCH_RUNS:-5}
apply_runs=${BENCH_APPLY_RUNS:-3}
big_apply_runs=${BENCH_BIG_APPLY_RUNS:-1}
big=${BENCH_BIG:-0}
limit_bytes=$((64 << 20)) # MR_DESIRED_MAX_FILE and MR_LIVE_MAX_FILE
have_strace=0 strace_opts=(-f -C -e trace=mkdir,mkdirat)
if command -v strace >/dev/null; then
	have_strace=1
	# stop only at the traced calls when this strace can (5.3 and later): much faster
	if strace -f --seccomp-bpf -e trace=mkdir -o /dev/null true 2>/dev/null; then
		strace_opts=(-f --seccomp-bpf -C -e trace=mkdir,mkdirat)
	fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailrecon-bench-targets.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=() # one line per command that failed
fail() { # fail WHAT STDERR_FILE: remember a failed command and show its last words
	failures+=("$1")
	echo "    FAILED: $1"
	if [[ -s ${2:-/dev/null} ]]; then
		tail -n 3 "$2" | sed 's/^/      /'
	fi
}
get() { # get KEY "k=v k=v ...": print the value of KEY
	local kv
	for kv in $2; do
		if [[ ${kv%%=*} == "$1" ]]; then
			printf '%s\n' "${kv#*=}"
			return 0
		fi
	done
	echo "$0: no $1= in benchrun output: $2" >&2
	return 1
}
calc() { awk "BEGIN { printf \"$1\", $2 }"; }             # calc FORMAT EXPR
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v + 0 <= l + 0) ? "PASS" : "FAIL" }'; }
mib() { calc '%.1f' "$(stat -c %s "$1") / 1048576"; }
mb() { calc '%.1f' "$1 * 1.048576"; } # MiB -> MB

# ---- the measurements ----

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.6f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { printf '%s\n' "$@" | sort -g | head -n 1; }

# measure INPUT CMD...: RUNS+1 rounds of one `floor INPUT` run and then one CMD run (benchrun
# -n 1 -w 0 each), so that the floor and the command see the same load on a busy machine; the
# first round is the warm-up. Sets f_med (floor median), m_med, m_min, m_rss (largest peak RSS
# of the timed runs, MiB) and m_exit (the status of the first CMD run that did not exit 0,
# after which the rounds stop; that run's time counts).
measure() {
	local input=$1 out i r ft=() ct=()
	shift
	m_exit=0 m_rss=0
	for ((i = 0; i <= runs; i++)); do
		out=$("$benchrun" -n 1 -w 0 -- "$floor" "$input" 2>/dev/null) || {
			echo "$0: floor failed on $input: $out" >&2
			exit 1
		}
		((i == 0)) || ft+=("$(get median_s "$out")")
		out=$("$benchrun" -n 1 -w 0 -- "$@" 2>/dev/null) || true
		r=$(get exit "$out")
		if ((i > 0)) || [[ $r != 0 ]]; then
			ct+=("$(get median_s "$out")")
			m_rss=$(calc '%.1f' "($(get maxrss_mib "$out") > $m_rss) ? $(get maxrss_mib "$out") : $m_rss")
		fi
		if [[ $r != 0 ]]; then
			m_exit=$r
			break
		fi
	done
	((${#ft[@]})) || ft=(0)
	f_med=$(median "${ft[@]}")
	m_med=$(median "${ct[@]}")
	m_min=$(minimum "${ct[@]}")
}

head_fmt='  %-34s %9s %9s %9s %9s %8s  %s\n'
header() { printf "$head_fmt" command "median s" "min s" "RSS MiB" "floor s" "x floor" "targets"; }
line() { # line LABEL TARGETS: one measured command
	local x
	x=$(calc '%.2f' "($f_med > 0) ? $m_med / $f_med : 0")
	printf "$head_fmt" "$1" "$m_med" "$m_min" "$m_rss" "$f_med" "$x" "$2"
}
skipped() { printf '  %-34s %s\n' "$1" "skipped: $2"; }
xfloor() { # xfloor LIMIT: "x floor <= LIMIT PASS|FAIL" for the last measure
	local x
	x=$(calc '%.4f' "($f_med > 0) ? $m_med / $f_med : 0")
	echo "x floor <= $1 $(verdict "$x" "$1")"
}
rss_mb() { # rss_mb LIMIT_MB: "RSS N MB <= LIMIT MB PASS|FAIL" for the last measure
	local v
	v=$(mb "$m_rss")
	echo "RSS $v MB <= $1 MB $(verdict "$v" "$1")"
}
exit_note() { [[ $m_exit == 0 ]] && echo "" || echo "; a run exited $m_exit"; }

# snapshot ROOT: every path below ROOT with its inode and mtime (what apply.sh compares)
snapshot() { (cd "$1" && find . -printf '%p %i %T@\n' | LC_ALL=C sort); }

# discard DIR...: delete trees, remembering when (for settle)
last_rm=0
discard() {
	rm -rf "$@"
	last_rm=$(date +%s)
}
# settle: wait until 35 s have passed since the last tree was deleted. ext4 without a journal
# passes over the inodes freed in the last 30 s when it looks for free ones (fs/ext4/ialloc.c,
# recently_deleted()): a first apply made right after the previous run's 113,000 directories
# were deleted took 10.7 and 13.3 s, against 7.7 and 8.3 s with nothing deleted in the 45 s
# before it (main 5906aad, this machine). A first apply on a server deletes nothing before it.
settle() {
	local left=$((last_rm + 35 - $(date +%s)))
	if ((left > 0)); then
		sleep "$left"
	fi
}

# first_apply INPUT EMPTY_TREE RUNS TRACE(0|1|above) KEEP: time RUNS applies, each into its own
# fresh copy of EMPTY_TREE (benchrun -n 1 -w 0 each; the floor is measured before them), with
# no tree deleted during the runs or in the 35 s before them (settle). With TRACE=1, one more,
# untimed run under strace counts the mkdir calls first. The tree of the last timed run is
# left at KEEP; the others are deleted after the runs. Sets f_med m_med m_min m_rss m_exit,
# and mk_calls mk_failed mk_eexist mk_dirs (empty without a trace).
first_apply() {
	local input=$1 empty=$2 n=$3 trace=$4 keep=$5 out t rc i dirs=()
	mk_calls= mk_failed= mk_eexist= mk_dirs=
	discard "$keep" "$keep".*
	if [[ $trace == 1 && $have_strace == 1 ]]; then
		cp -a "$empty" "$keep.trace"
		dirs+=("$keep.trace")
		rc=0
		strace "${strace_opts[@]}" -o "$tmp/strace.out" \
			"$mailrecon" -q --root "$keep.trace" apply -f "$input" >/dev/null 2>"$tmp/strace.err" || rc=$?
		# the summary of -c/-C: "% time seconds usecs/call calls errors syscall"
		mk_calls=$(awk '$NF == "mkdir" || $NF == "mkdirat" { c += $4 } END { print c + 0 }' "$tmp/strace.out")
		mk_failed=$(awk '($NF == "mkdir" || $NF == "mkdirat") && NF == 6 { e += $5 } END { print e + 0 }' "$tmp/strace.out")
		mk_eexist=$(grep -c ' = -1 EEXIST ' "$tmp/strace.out" || true)
		mk_dirs=$(find "$keep.trace" -type d | wc -l)
		mk_rc=$rc
		rm -f "$tmp/strace.out"
	fi
	out=$("$benchrun" -n "$runs" -- "$floor" "$input") || {
		echo "$0: floor failed on $input: $out" >&2
		exit 1
	}
	f_med=$(get median_s "$out")
	local times=() rss=0
	m_exit=0
	settle
	for ((i = 1; i <= n; i++)); do
		cp -a "$empty" "$keep.$i"
		dirs+=("$keep.$i")
		sync
		# stderr to a file through an exec'ing sh: the same process, so ru_maxrss is mailrecon's
		out=$(ERR="$tmp/apply.err" "$benchrun" -n 1 -w 0 -- sh -c 'exec "$@" 2>"$ERR"' sh \
			"$mailrecon" -q --root "$keep.$i" apply -f "$input" 2>/dev/null) || true
		t=$(get median_s "$out")
		times+=("$t")
		rss=$(calc '%.1f' "($(get maxrss_mib "$out") > $rss) ? $(get maxrss_mib "$out") : $rss")
		rc=$(get exit "$out")
		if [[ $rc != 0 && $m_exit == 0 ]]; then
			m_exit=$rc
			cp "$tmp/apply.err" "$tmp/first-apply.err"
		fi
	done
	mv "$keep.$n" "$keep"
	unset 'dirs[${#dirs[@]}-1]'
	((${#dirs[@]} == 0)) || discard "${dirs[@]}"
	m_med=$(median "${times[@]}")
	m_min=$(minimum "${times[@]}")
	m_rss=$rss
}

# ---- the data ----

# split_desired FILE DIR NDOMAINS: the desired state of FILE in 100 files of NDOMAINS/100
# domains each; the first also has everything before "domains:" (version, server, users)
split_desired() {
	mkdir -p "$2"
	awk -v dir="$2" -v per=$(($3 / 100)) '
		!indom && /^domains:$/ { indom = 1; next }
		!indom { head = head $0 "\n"; next }
		/^  [^ #]/ {
			if (n % per == 0) {
				if (f != "") close(f)
				k = n / per
				f = sprintf("%s/part-%03d.yaml", dir, k)
				if (k == 0) printf "%sdomains:\n", head > f
				else print "version: 1\ndomains:" > f
			}
			n++
		}
		{ print > f }' "$1"
	local count
	count=$(find "$2" -name '*.yaml' | wc -l)
	if [[ $count -ne 100 ]]; then
		echo "$0: splitting $1 gave $count files, not 100" >&2
		exit 1
	fi
}

# replicate FILE COPIES NDOMAINS NMAILBOXES: FILE (an import of gen_live's tree) COPIES times,
# copy J with every domain, mailbox, alias, outside address, user and reseller number moved
# up by J times their count, so that each copy is the same mix under new names; one document
replicate() {
	perl -we '
		my ($copies, $nd, $nm) = splice(@ARGV, 0, 3);
		my (@head, @users, @doms);
		my $part = 0;
		while (<>) {
			if ($part == 0 && /^users:$/) { push @head, $_; $part = 1; next }
			if ($part == 1 && /^domains:$/) { $part = 2; next }
			if ($part == 0) { push @head, $_ } elsif ($part == 1) { push @users, $_ } else { push @doms, $_ }
		}
		my ($nu, $nr) = (0, 0);
		for (@users) {
			$nu = $1 if /^  u(\d+):$/ && $1 > $nu;
			$nr = $1 if /^  r(\d+):$/ && $1 > $nr;
		}
		sub ren {
			my ($j, $l, $nd, $nm, $nu, $nr) = @_;
			return $l if $j == 0 || $l =~ /^\s*(password|note):/;
			$l =~ s/\bd(\d+)\.example\b/"d" . ($1 + $j * $nd) . ".example"/ge;
			$l =~ s/\bm(\d+)\b/"m" . ($1 + $j * $nm)/ge;
			$l =~ s/\ba(\d+)(b?)\b/"a" . ($1 + $j * $nm) . $2/ge;
			$l =~ s/\bc(\d+)-/"c" . ($1 + $j * $nm) . "-"/ge;
			$l =~ s/\bu(\d+)\b/"u" . ($1 + $j * $nu)/ge;
			$l =~ s/\br(\d+)\b/"r" . ($1 + $j * $nr)/ge;
			return $l;
		}
		print @head;
		for my $j (0 .. $copies - 1) { print ren($j, $_, $nd, $nm, $nu, $nr) for @users }
		print "domains:\n";
		for my $j (0 .. $copies - 1) { print ren($j, $_, $nd, $nm, $nu, $nr) for @doms }
	' "$2" "$3" "$4" "$1"
}

# passwd_of FILE: /etc/passwd lines for the users of a desired state (user uN uid 1000+N,
# reseller rN 50000+N: no clash with 10,000 users)
passwd_of() {
	awk '/^users:$/ { u = 1; next } /^[^ ]/ { u = 0 }
		u && /^  [ur][0-9]+:$/ { name = substr($1, 1, length($1) - 1); n = substr(name, 2)
			id = (name ~ /^r/) ? 50000 + n : 1000 + n
			printf "%s:x:%d:%d::/var/www/%s:/usr/sbin/nologin\n", name, id, id, name }' "$1"
}

# empty_tree DIR PASSWD: what a first apply starts from: the Debian layout's /etc/exim4 (what
# --layout auto looks for) and /etc/passwd with the owners' accounts
empty_tree() {
	mkdir -p "$1/etc/exim4"
	cp "$2" "$1/etc/passwd"
}

# quota_1pct FILE: every 100th line of a dovecot.passwd gets another quota (3G, which the
# generator never gives), or one when it has none: 1% of the mailboxes to change
quota_1pct() {
	awk 'NR % 100 == 0 {
		if (/bytes=/) sub(/bytes=[0-9]+[MG]/, "bytes=3G")
		else if (/::$/) $0 = $0 "userdb_quota_rule=*:bytes=3G"
		else $0 = $0 " userdb_quota_rule=*:bytes=3G"
	} { print }' "$1" >"$tmp/dv.new"
	cat "$tmp/dv.new" >"$1"
	rm -f "$tmp/dv.new"
}

# ---- one size, one shape ----

declare -A R_med R_rss # "NDOMAINS SHAPE CMD" -> median s, RSS MiB (for the 10x ratios)
record() { R_med["$1"]=$m_med; R_rss["$1"]=$m_rss; }

# shape NDOMAINS LABEL INPUT LIVE LIVE1 EMPTY APPLY_RUNS TRACE
#   LIVE: an applied tree that matches INPUT (nothing to change), or "" to use the tree the
#   first apply made; LIVE1: LIVE with 1% of the mailboxes changed (made when "")
shape() {
	local size=$1 label=$2 input=$3 live=$4 live1=$5 empty=$6 nruns=$7 trace=$8 rc summary n
	# tgt TEXT: TEXT at the target size; elsewhere the target is the scale ratio
	tgt() { [[ $size == "$ndom" ]] && echo "$1" || echo "the scale ratios below"; }
	local big_file=""
	if [[ -d $input ]]; then
		big_file=$(find "$input" -name '*.yaml' -size +$((limit_bytes / 1024))k | head -n 1)
	elif (($(stat -c %s "$input") > limit_bytes)); then
		big_file=$input
	fi
	echo
	if [[ -d $input ]]; then
		echo "$label: $(find "$input" -name '*.yaml' | wc -l) files, $(du -sk "$input" | awk '{ printf "%.1f", $1 / 1024 }') MiB"
	else
		echo "$label: $(mib "$input") MiB"
	fi
	if [[ -n $big_file ]]; then
		skipped "every command" "over the 64 MiB file limit ($(basename "$big_file"): $(mib "$big_file") MiB)"
		return 0
	fi
	header

	# validate
	rc=0
	"$mailrecon" validate -f "$input" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [[ $rc -ne 0 ]]; then
		skipped "validate -f" "mailrecon validate exited $rc"
		fail "validate -f ($size domains, $label)" "$tmp/err"
	else
		measure "$input" "$mailrecon" validate -q -f "$input"
		line "validate -f" "$(tgt "$(xfloor 2.5)")$(exit_note)"
		record "$size $label validate"
		[[ $m_exit == 0 ]] || fail "validate -f ($size domains, $label): a timed run exited $m_exit"
	fi

	# first apply into an empty tree (at the big size, before the plans: it makes their tree)
	local fa=$tmp/first-apply
	rm -f "$tmp/first-apply.err"
	first_apply "$input" "$empty" "$nruns" "$trace" "$fa"
	local fa_line
	fa_line="$(tgt "median <= 10 s $(verdict "$m_med" 10)") ($nruns run$( ((nruns == 1)) || echo s))$(exit_note)"
	line "first apply, empty tree" "$fa_line"
	record "$size $label first-apply"
	if [[ -n $mk_calls ]]; then
		printf '    mkdir/mkdirat calls %s, failed %s (EEXIST %s); directories in the tree after it %s (strace %s, one untimed run, exit %s)\n' \
			"$mk_calls" "$mk_failed" "$mk_eexist" "$mk_dirs" "${strace_opts[*]}" "$mk_rc"
	elif [[ $trace == 1 ]]; then
		echo "    mkdir calls: not counted (strace is not installed)"
	elif [[ $trace == above ]]; then
		echo "    mkdir calls: counted once, above (the same tree is made)"
	fi
	if [[ $m_exit != 0 ]]; then
		fail "first apply ($size domains, $label): exit $m_exit" "$tmp/first-apply.err"
	fi

	# the applied tree for plan and the no-op apply
	if [[ -z $live ]]; then
		live=$fa
		live1=$tmp/live1-first-apply
		discard "$live1"
	fi
	rc=0
	"$mailrecon" --root "$live" plan -f "$input" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [[ $rc -ne 0 ]] && grep -q 'is too large' "$tmp/err"; then
		local why
		why=$(grep -m 1 'is too large' "$tmp/err" | sed -E "s|$tmp/[^/]*||; s/^mailrecon: //")
		skipped "plan, nothing to change" "over the 64 MiB file limit: $why"
		skipped "plan, 1% changed" "the same"
		skipped "apply, nothing to change" "the same"
		return 0
	fi
	if [[ $rc -ne 0 ]] || ! grep -q '^No changes' "$tmp/out"; then
		skipped "plan, nothing to change" "the plain run exited $rc: $(tail -n 1 "$tmp/out")"
		fail "plan, nothing to change ($size domains, $label)" "$tmp/err"
	else
		measure "$input" "$mailrecon" --root "$live" plan -f "$input"
		line "plan, nothing to change" "$(tgt "$(xfloor 4), $(rss_mb 120)")$(exit_note)"
		record "$size $label plan0"
		[[ $m_exit == 0 ]] || fail "plan, nothing to change ($size domains, $label): a timed run exited $m_exit"
	fi

	# 1% changed
	if [[ ! -d $live1 ]]; then
		cp -a "$live" "$live1"
		quota_1pct "$live1/etc/dovecot/dovecot.passwd"
	fi
	rc=0
	"$mailrecon" --root "$live1" plan -f "$input" >"$tmp/out" 2>"$tmp/err" || rc=$?
	summary=$(grep -E '^Plan: ' "$tmp/out" | tail -n 1 || true)
	n=$(sed -nE 's/.* ([0-9]+) to change.*/\1/p' <<<"$summary")
	if [[ $rc -ne 0 || -z $n ]]; then
		skipped "plan, 1% changed" "the plain run exited $rc: $(tail -n 1 "$tmp/out")"
		fail "plan, 1% changed ($size domains, $label)" "$tmp/err"
	else
		measure "$input" "$mailrecon" --root "$live1" plan -f "$input"
		line "plan, 1% changed ($n to change)" "$(tgt "$(xfloor 4), $(rss_mb 120)")$(exit_note)"
		record "$size $label plan1"
		[[ $m_exit == 0 ]] || fail "plan, 1% changed ($size domains, $label): a timed run exited $m_exit"
	fi

	# apply, nothing to change: nothing below the root may change (inode or mtime)
	rc=0
	"$mailrecon" --root "$live" apply -f "$input" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [[ $rc -ne 0 ]] || ! grep -q '^No changes' "$tmp/out"; then
		skipped "apply, nothing to change" "the plain run exited $rc: $(tail -n 1 "$tmp/out")"
		fail "apply, nothing to change ($size domains, $label)" "$tmp/err"
	else
		sync
		snapshot "$live" >"$tmp/before"
		measure "$input" "$mailrecon" -q --root "$live" apply -f "$input"
		snapshot "$live" >"$tmp/after"
		local written gone
		written=$(LC_ALL=C comm -13 "$tmp/before" "$tmp/after" | wc -l)
		gone=$(LC_ALL=C comm -23 <(cut -d' ' -f1 "$tmp/before") <(cut -d' ' -f1 "$tmp/after") | wc -l)
		local w="paths written $written, removed $gone"
		[[ $written -eq 0 && $gone -eq 0 ]] && w="$w PASS" || w="$w FAIL"
		line "apply, nothing to change" "$(tgt "$(xfloor 5)"), $w$(exit_note)"
		record "$size $label apply0"
		[[ $m_exit == 0 ]] || fail "apply, nothing to change ($size domains, $label): a timed run exited $m_exit"
	fi
}

# ---- the report ----

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "issue 13 targets: $("$mailrecon" --version | head -n 1) ($(cd "$build" && pwd)); $(nproc) CPUs, $(uname -sr), load average $(load)"
echo "each command: median of $runs run$( ((runs == 1)) || echo s) after 1 warm-up, each run right after a run of 'floor' (libyaml events only) on the same input;"
echo "first apply: $apply_runs run$( ((apply_runs == 1)) || echo s) (BENCH_APPLY_RUNS), each into a fresh copy of the empty tree"

# 10,000 domains / 100,000 mailboxes (BENCH_DOMAINS, a multiple of 100, only to try the script
# quickly: the targets are for 10,000): gen_live's tree, its import, and that import in 100 files
ndom=${BENCH_DOMAINS:-10000}
if ! [[ $ndom =~ ^[1-9][0-9]*00$ ]]; then
	echo "$0: BENCH_DOMAINS must be a multiple of 100, not '$ndom'" >&2
	exit 64
fi
nmb=$((ndom * 10))
live=$tmp/live
"$gen" "$live" "$ndom" "$nmb" 2>/dev/null
# the owners' system accounts: gen_live gives user uN uid 1000+N and reseller rN 3000+N
awk -F'[ =]' '$1 == "user" { n = substr($2, 2); id = ($2 ~ /^r/) ? 3000 + n : 1000 + n;
	printf "%s:x:%d:%d::/var/www/%s:/usr/sbin/nologin\n", $2, id, id, $2 }' \
	"$live/etc/mailrecon/registry" >"$live/etc/passwd"
"$mailrecon" -q --root "$live" import >"$tmp/one.yaml" 2>"$tmp/err" || {
	echo "$0: mailrecon import failed:" >&2
	cat "$tmp/err" >&2
	exit 1
}
split_desired "$tmp/one.yaml" "$tmp/split" "$ndom"
empty_tree "$tmp/empty" "$live/etc/passwd"
# the first apply of the imported state records the tree as the baseline: from then on it
# is a tree mailrecon has applied, with nothing to change
rc=0
"$mailrecon" --root "$live" apply -f "$tmp/one.yaml" >"$tmp/out" 2>"$tmp/err" || rc=$?
if [[ $rc -ne 0 ]] || ! grep -q '^No changes' "$tmp/out"; then
	echo "$0: the baseline apply of the generated tree failed (exit $rc):" >&2
	tail -n 5 "$tmp/out" "$tmp/err" >&2
	exit 1
fi
live1=$tmp/live1
cp -a "$live" "$live1"
quota_1pct "$live1/etc/dovecot/dovecot.passwd"

echo
echo "== $ndom domains / $nmb mailboxes (gen_live's tree, applied; its import as the desired state) =="
shape "$ndom" "one file" "$tmp/one.yaml" "$live" "$live1" "$tmp/empty" "$apply_runs" 1
shape "$ndom" "100 files" "$tmp/split" "$live" "$live1" "$tmp/empty" "$apply_runs" above
discard "$live" "$live1" "$tmp/first-apply"

if [[ $big == 1 ]]; then
	bdom=$((ndom * 10)) bmb=$((nmb * 10))
	replicate "$tmp/one.yaml" 10 "$ndom" "$nmb" >"$tmp/big.yaml"
	split_desired "$tmp/big.yaml" "$tmp/bigsplit" "$bdom"
	passwd_of "$tmp/big.yaml" >"$tmp/big.passwd"
	empty_tree "$tmp/bigempty" "$tmp/big.passwd"
	discard "$tmp/empty" "$tmp/split" "$tmp/live1-first-apply"
	echo
	echo "== $bdom domains / $bmb mailboxes (the $ndom-domain import ten times under new names) =="
	echo "   (first apply: $big_apply_runs run$( ((big_apply_runs == 1)) || echo s), BENCH_BIG_APPLY_RUNS, no strace; no generated live tree matches this state,"
	echo "   so plan and the no-op apply run on the tree the first apply made)"
	shape "$bdom" "one file" "$tmp/big.yaml" "" "" "$tmp/bigempty" "$big_apply_runs" 0
	shape "$bdom" "100 files" "$tmp/bigsplit" "" "" "$tmp/bigempty" "$big_apply_runs" 0

	echo
	echo "scale: $bdom vs $ndom domains, ratios of the medians and of the peak RSS (targets <= 11):"
	declare -A cname=([validate]="validate -f" [first-apply]="first apply, empty tree" [plan0]="plan, nothing to change"
		[plan1]="plan, 1% changed" [apply0]="apply, nothing to change")
	for sh in "one file" "100 files"; do
		any=0
		for c in validate first-apply plan0 plan1 apply0; do
			[[ -z ${R_med["$bdom $sh $c"]:-} ]] || any=1
		done
		if ((!any)); then
			echo "  $sh: skipped: no figure at $bdom domains"
			continue
		fi
		echo "  $sh:"
		for c in validate first-apply plan0 plan1 apply0; do
			a=${R_med["$bdom $sh $c"]:-} b=${R_med["$ndom $sh $c"]:-}
			if [[ -z $a || -z $b ]]; then
				printf '    %-26s skipped: no figure at %s domains\n' "${cname[$c]}" "$([[ -z $a ]] && echo "$bdom" || echo "$ndom")"
				continue
			fi
			tr=$(calc '%.2f' "($b > 0) ? $a / $b : 0")
			rr=$(calc '%.2f' "(${R_rss["$ndom $sh $c"]} > 0) ? ${R_rss["$bdom $sh $c"]} / ${R_rss["$ndom $sh $c"]} : 0")
			printf '    %-26s time x%s %s, RSS x%s %s\n' "${cname[$c]}" "$tr" "$(verdict "$tr" 11)" "$rr" "$(verdict "$rr" 11)"
		done
	done
fi

echo
echo "load average at the end: $(load)"
if ((${#failures[@]})); then
	echo "commands that failed (${#failures[@]}):"
	printf '  %s\n' "${failures[@]}"
	exit 1
fi
