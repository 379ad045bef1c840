#!/usr/bin/env bash
# tests/package/check.sh REPO_ROOT: the Debian package and the RPM, built, read and installed.
#
#   1. `bash scripts/package --rpm` builds mailrecon_VERSION_ARCH.deb (lintian: no error, no
#      warning that debian/mailrecon.lintian-overrides does not explain) and the RPM of
#      contrib/rpm/mailrecon.spec, in a temporary directory. To be quick it compiles without
#      optimisation and makes no debug symbol package (DEB_BUILD_OPTIONS="noopt
#      noautodbgsym", RPM_OPTFLAGS=-O0): what is checked here is the packaging, not the
#      compiler.
#   2. dpkg-deb -I and -c: the fields (Depends from shlibs, exim4/dovecot only recommended),
#      the conffiles, the maintainer scripts (no timer enabled or started), and every file
#      in its place with its mode.
#   3. apt-get -s install: the Depends are satisfied by this Debian without anything else.
#   4. dpkg -i into a throwaway root (dpkg --root, the maintainer scripts run with
#      DPKG_ROOT), then there: mailrecon --version, validate of the installed examples, a
#      real apply on a sandbox with --metrics-file (promtool check metrics), systemd-analyze
#      verify of the installed units, logrotate -d of the installed file and a real rotation
#      of a copy; then dpkg -r (the conffiles stay) and dpkg -P (they go).
#   5. The RPM: its files are the .deb's in the RHEL places (/usr/lib/systemd/system,
#      /etc/sysconfig/mailrecon), its config files and the 0700 state directory; installed
#      with rpm --root into another throwaway root, where mailrecon --version runs and the
#      units verify.
#
# Nothing is skipped: a missing tool fails the test and names the package to install
# (`bash scripts/quickstart test` installs them all). Needs root (dpkg --root, logrotate's
# create).
set -uo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/debian/control" ]; then
	echo "usage: $0 REPO_ROOT" >&2
	exit 64
fi
repo=$(cd "$1" && pwd)
failures=0
checks=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
ok() { checks=$((checks + 1)); }
# want NAME COMMAND...: the command must succeed
want() {
	local name=$1
	shift
	if "$@"; then ok; else fail "$name"; fi
}

missing=()
for t in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian rpmbuild:rpm rpm:rpm logrotate:logrotate \
	systemd-analyze:systemd man:man-db promtool:prometheus apt-get:apt; do
	command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "FAIL: missing tools; install: apt-get install ${missing[*]} (bash scripts/quickstart test installs them)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: needs root (dpkg --root installs files owned by root; logrotate creates the log as root)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
version=$(sed -n 's/^project(mailrecon VERSION \([0-9.]*\) .*/\1/p' "$repo/CMakeLists.txt")
arch=$(dpkg --print-architecture)
t0=$SECONDS

# ---- 1. build ----
if ! DEB_BUILD_OPTIONS="noopt noautodbgsym" RPM_OPTFLAGS=-O0 bash "$repo/scripts/package" --rpm --out "$tmp/out"; then
	echo "FAIL: scripts/package failed (above)" >&2
	exit 1
fi
echo "package: built in $((SECONDS - t0)) s"
deb=$tmp/out/mailrecon_${version}_${arch}.deb
if [ ! -f "$deb" ]; then
	echo "FAIL: no $(basename "$deb") in $tmp/out: $(ls "$tmp/out")" >&2
	exit 1
fi
if grep -E '^[EW]: ' "$tmp/out/lintian.log"; then
	fail "lintian: errors or warnings (above): fix them, or override one in debian/mailrecon.lintian-overrides with its reason"
else
	ok
fi

# ---- 2. dpkg-deb -I / -c ----
echo "== dpkg-deb -I"
dpkg-deb -I "$deb" | tee "$tmp/info"
field() { dpkg-deb -f "$deb" "$1"; }
want "Package is mailrecon" test "$(field Package)" = mailrecon
want "Version is the CMake project's ($version)" test "$(field Version)" = "$version"
want "Architecture is $arch" test "$(field Architecture)" = "$arch"
depends=$(field Depends)
for lib in libc6 libgit2- libyaml-0-2 libssl3 libcrypt1 zlib1g; do
	case ", $depends" in *", $lib"*) ok ;; *) fail "Depends (from shlibs) has no $lib: $depends" ;; esac
done
case $depends in *exim*|*dovecot*) fail "exim4/dovecot must be Recommends, not Depends: $depends" ;; *) ok ;; esac
recommends=$(field Recommends)
case $recommends in *exim4-daemon-heavy*dovecot-core*) ok ;; *) fail "Recommends lacks exim4 or dovecot-core: $recommends" ;; esac
dpkg-deb -e "$deb" "$tmp/control"
want "conffiles: /etc/default/mailrecon and /etc/logrotate.d/mailrecon" \
	test "$(sort "$tmp/control/conffiles" | tr '\n' ' ')" = "/etc/default/mailrecon /etc/logrotate.d/mailrecon "
# the timers are the operator's to enable: the maintainer scripts neither enable nor start
# anything (dh_installsystemd --no-enable --no-start: only "was-enabled" re-enables on upgrade)
if grep -nE 'deb-systemd-invoke (start|restart)|deb-systemd-helper enable' "$tmp/control/postinst" |
	grep -v 'was-enabled' | grep -vE '^\s*[0-9]+:\s*deb-systemd-helper enable .*>/dev/null \|\| true$' |
	grep -q .; then
	fail "postinst starts or enables a unit"
else
	ok
fi
want "postinst: an enable only where the timer was enabled before" \
	sh -c "! grep -q 'deb-systemd-helper enable' '$tmp/control/postinst' || grep -q 'was-enabled' '$tmp/control/postinst'"

echo "== dpkg-deb -c"
dpkg-deb -c "$deb" | tee "$tmp/contents" | grep -v -e '/examples/' -e '/contrib/'
# has MODE PATH: an entry of the .deb (mode as ls prints it; PATH as dpkg-deb -c prints it)
has() {
	if awk -v m="$1" -v p="$2" '$1 == m && $NF == p { f = 1 } END { exit !f }' "$tmp/contents"; then
		ok
	else
		fail "the .deb has no $1 $2"
	fi
}
has -rwxr-xr-x ./usr/bin/mailrecon
has -rw-r--r-- ./usr/share/man/man1/mailrecon.1.gz
for s in desired plan planfile; do has -rw-r--r-- "./usr/share/mailrecon/schema/$s.schema.json"; done
for f in examples/minimal.yaml examples/hosting/alice.yaml examples/hosting/secrets/newsletter.password \
	contrib/exim4/exim4.conf contrib/dovecot/dovecot.conf contrib/ci/gitlab-ci.yml contrib/ci/github-actions.yml \
	contrib/ci/README.md contrib/systemd/README.md; do
	has -rw-r--r-- "./usr/share/doc/mailrecon/$f"
done
for u in mailrecon-reconcile.service mailrecon-reconcile.timer mailrecon-drift.service mailrecon-drift.timer \
	mailrecon-notify@.service; do
	has -rw-r--r-- "./lib/systemd/system/$u"
done
has -rw-r--r-- ./etc/default/mailrecon
has -rw-r--r-- ./etc/logrotate.d/mailrecon
has drwx------ ./var/lib/mailrecon/
# bash and zsh completion: installed by `cmake --install` once the tree has them (issue 14)
if [ -d "$repo/contrib/completion" ]; then
	want "the .deb has the bash completion" grep -q ' ./usr/share/bash-completion/completions/mailrecon$' "$tmp/contents"
	want "the .deb has the zsh completion" grep -qE ' ./usr/share/zsh/(vendor-completions|site-functions)/_mailrecon$' "$tmp/contents"
else
	echo "note: contrib/completion is not in this tree yet: no completion to check"
fi
if grep -E ' \./usr/local/| \./usr/etc/| \./etc/systemd/' "$tmp/contents"; then
	fail "the .deb has files in /usr/local, /usr/etc or /etc/systemd (above)"
else
	ok
fi

# ---- 3. the Depends, on this machine ----
if apt-get install -s --no-install-recommends "$deb" >"$tmp/apt.out" 2>&1; then
	if grep '^Inst ' "$tmp/apt.out" | grep -v '^Inst mailrecon '; then
		fail "apt-get -s install would install more than mailrecon (above): a Depends not from shlibs?"
	else
		ok
	fi
else
	cat "$tmp/apt.out" >&2
	fail "apt-get -s install of the .deb failed (above)"
fi

# ---- 4. dpkg -i into a throwaway root ----
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# --force-depends: the root holds only this package; the program runs on the host's
# libraries, whose packages step 3 checked. --force-script-chrootless: the maintainer
# scripts run with DPKG_ROOT (deb-systemd-helper works on that root) instead of in a chroot
# without /bin/sh.
dpkg_root() { dpkg --root="$root" --force-script-chrootless --force-depends "$@"; }
if dpkg_root -i "$deb" >"$tmp/dpkg-i.out" 2>&1; then
	ok
else
	cat "$tmp/dpkg-i.out" >&2
	echo "FAIL: dpkg -i into $root failed (above)" >&2
	exit 1
fi
want "dpkg -i installed it" sh -c "dpkg --root='$root' -s mailrecon | grep -qx 'Status: install ok installed'"
want "mailrecon --version of the installed binary" test "$("$root/usr/bin/mailrecon" --version)" = "mailrecon $version"
echo "installed: $("$root/usr/bin/mailrecon" --version)"
want "the state directory is root's 0700" test "$(stat -c '%a %U' "$root/var/lib/mailrecon")" = "700 root"
if ls "$root"/etc/systemd/system/*.wants/mailrecon-* 2>/dev/null; then
	fail "a unit is enabled after install (above)"
else
	ok
fi
want "the installed examples validate" "$root/usr/bin/mailrecon" validate -f "$root/usr/share/doc/mailrecon/examples/hosting"

# a real apply with the installed binary, on a sandbox laid out by the panel
sb=$tmp/sandbox
cp -a "$repo/tests/fixtures/live/debian/hosting" "$sb"
rm -f "$sb/findings.txt" "$sb/import.yaml" "$sb/import.err"
if "$root/usr/bin/mailrecon" --root "$sb" apply -f "$root/usr/share/doc/mailrecon/examples/hosting" \
	--metrics-file "$tmp/mailrecon.prom" >"$tmp/apply.out" 2>&1; then
	ok
else
	cat "$tmp/apply.out" >&2
	fail "apply of the installed examples on a sandbox failed (above)"
fi
echo "== the metrics file of that apply"
cat "$tmp/mailrecon.prom"
want "promtool check metrics" sh -c "promtool check metrics <'$tmp/mailrecon.prom'"
want "the metrics say the apply succeeded" grep -q '^mailrecon_last_run_success{command="apply",host="[^"]*"} 1$' "$tmp/mailrecon.prom"
planned=$(sed -n 's/^Plan: \([0-9]*\) to add, \([0-9]*\) to change, \([0-9]*\) to destroy\.$/\1 \2 \3/p' "$tmp/apply.out" |
	awk '{ print $1 + $2 + $3 }')
counted=$(awk '/^mailrecon_applied_changes_total\{/ { s += $NF } END { print s + 0 }' "$tmp/mailrecon.prom")
want "... and counted the plan's ${planned:-?} changes as applied (got $counted)" test "${planned:-x}" = "$counted" -a "$counted" -gt 0

# the installed units: systemd-analyze verify, on copies whose /usr/bin/mailrecon is the
# root's (verify checks that ExecStart='s program is there); MANPATH is the root's man pages
verify_units() { # DIR-OF-INSTALLED-UNITS ROOT ENV-FILE
	local dir=$1 r=$2 env=$3 u out rc
	rm -rf "$tmp/units" && mkdir -p "$tmp/units"
	for u in reconcile.service drift.service; do
		want "mailrecon-$u runs /usr/bin/mailrecon" grep -qE '^ExecStart=/usr/bin/mailrecon (apply|drift) ' "$dir/mailrecon-$u"
		want "mailrecon-$u reads $env" grep -qx "EnvironmentFile=-$env" "$dir/mailrecon-$u"
	done
	want "$env is installed" test -f "$r$env"
	want "mailrecon-notify@ reads $env" grep -qx "EnvironmentFile=-$env" "$dir/mailrecon-notify@.service"
	for u in "$dir"/mailrecon-*; do
		sed "s|/usr/bin/mailrecon|$r/usr/bin/mailrecon|g" "$u" >"$tmp/units/$(basename "$u")"
	done
	cp "$tmp/units/mailrecon-notify@.service" "$tmp/units/mailrecon-notify@mailrecon-reconcile.service.service"
	out=$(cd "$tmp/units" && MANPATH="$r/usr/share/man" SYSTEMD_LOG_COLOR=0 systemd-analyze verify \
		./mailrecon-reconcile.service ./mailrecon-reconcile.timer ./mailrecon-drift.service \
		./mailrecon-drift.timer ./mailrecon-notify@mailrecon-reconcile.service.service 2>&1)
	rc=$?
	echo "systemd-analyze verify ($dir): exit $rc"
	[ -z "$out" ] || printf '%s\n' "$out"
	if [ $rc -ne 0 ] || [ -n "$out" ]; then fail "systemd-analyze verify of $dir (above)"; else ok; fi
}
verify_units "$root/lib/systemd/system" "$root" /etc/default/mailrecon

# logrotate: the installed file as it is (-d: debug, changes nothing), then a real rotation
# of a copy pointed at a log in the temporary directory
if logrotate -d -s "$tmp/logrotate.state" "$root/etc/logrotate.d/mailrecon" >"$tmp/logrotate.out" 2>&1 &&
	grep -q 'considering log /var/log/mailrecon.log' "$tmp/logrotate.out" && ! grep -qi 'error' "$tmp/logrotate.out"; then
	ok
else
	cat "$tmp/logrotate.out" >&2
	fail "logrotate -d of the installed /etc/logrotate.d/mailrecon (above)"
fi
mkdir -p "$tmp/log"
chmod 755 "$tmp/log"
sed "s|/var/log/mailrecon.log|$tmp/log/mailrecon.log|" "$root/etc/logrotate.d/mailrecon" >"$tmp/logrotate.conf"
echo '2026-12-05T09:00:00Z rev=0123456789ab actor=test mailbox info@example.com create' >"$tmp/log/mailrecon.log"
chmod 640 "$tmp/log/mailrecon.log"
if logrotate -f -s "$tmp/logrotate.state" "$tmp/logrotate.conf" >"$tmp/logrotate.out" 2>&1; then
	want "rotated: the old lines in mailrecon.log.1" grep -q 'actor=test' "$tmp/log/mailrecon.log.1"
	want "rotated: a new empty log, 0640 root" test "$(stat -c '%a %U %s' "$tmp/log/mailrecon.log")" = "640 root 0"
else
	cat "$tmp/logrotate.out" >&2
	fail "logrotate -f of a copy of the installed file (above)"
fi

# remove, then purge
echo '# edited' >>"$root/etc/default/mailrecon"
if dpkg_root -r mailrecon >"$tmp/dpkg-r.out" 2>&1; then
	want "dpkg -r removes the binary" test ! -e "$root/usr/bin/mailrecon"
	want "dpkg -r removes the units" test ! -e "$root/lib/systemd/system/mailrecon-reconcile.service"
	want "dpkg -r keeps the edited conffile" grep -q '^# edited' "$root/etc/default/mailrecon"
else
	cat "$tmp/dpkg-r.out" >&2
	fail "dpkg -r (above)"
fi
if dpkg_root -P mailrecon >"$tmp/dpkg-p.out" 2>&1; then
	want "dpkg -P removes the conffiles" test ! -e "$root/etc/default/mailrecon" -a ! -e "$root/etc/logrotate.d/mailrecon"
	want "dpkg -P forgets the package" sh -c "! dpkg --root='$root' -s mailrecon >/dev/null 2>&1"
else
	cat "$tmp/dpkg-p.out" >&2
	fail "dpkg -P (above)"
fi

# ---- 5. the RPM ----
rpmfile=$(ls "$tmp"/out/rpm/RPMS/*/mailrecon-"$version"-1*.rpm 2>/dev/null | head -n 1)
if [ -z "$rpmfile" ]; then
	echo "FAIL: no RPM in $tmp/out/rpm/RPMS" >&2
	exit 1
fi
echo "== rpm -qlv $(basename "$rpmfile")"
rpm -qlvp "$rpmfile" 2>/dev/null | tee "$tmp/rpm.contents" | grep -v '/doc/mailrecon/'
want "the RPM's name and version" test "$(rpm -qp --qf '%{NAME} %{VERSION}' "$rpmfile" 2>/dev/null)" = "mailrecon $version"
want "the RPM's config files" test "$(rpm -qp --configfiles "$rpmfile" 2>/dev/null | sort | tr '\n' ' ')" = \
	"/etc/logrotate.d/mailrecon /etc/sysconfig/mailrecon "
want "the RPM's state directory is root's 0700" \
	grep -qE '^drwx------ +[0-9]+ root +root .* /var/lib/mailrecon$' "$tmp/rpm.contents"
# the same regular files as the .deb, in the RHEL places (Debian's package adds its changelog,
# copyright and lintian overrides; Debian's rpm leaves pages uncompressed)
awk '$1 ~ /^-/ { print $NF }' "$tmp/contents" | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^$' |
	grep -v -e '^/usr/share/lintian' -e '^/usr/share/doc/mailrecon/changelog' -e '^/usr/share/doc/mailrecon/copyright' |
	sed -e 's|^/lib/systemd|/usr/lib/systemd|' -e 's|^/etc/default/mailrecon$|/etc/sysconfig/mailrecon|' \
		-e 's|\.gz$||' |
	grep -E '^/(usr/bin|usr/share/(man|mailrecon|doc)|usr/lib/systemd|etc|var/lib/mailrecon)/' | sort -u >"$tmp/deb.files"
awk '$1 ~ /^-/ { print $NF }' "$tmp/rpm.contents" | sed 's|\.gz$||' |
	grep -E '^/(usr/bin|usr/share/(man|mailrecon|doc)|usr/lib/systemd|etc|var/lib/mailrecon)/' | sort -u >"$tmp/rpm.files"
if diff -u "$tmp/deb.files" "$tmp/rpm.files" >"$tmp/files.diff"; then
	ok
	echo "the RPM has the .deb's $(wc -l <"$tmp/rpm.files") files, in the RHEL places"
else
	cat "$tmp/files.diff" >&2
	fail "the RPM's files are not the .deb's (- .deb mapped to RHEL places, + RPM)"
fi
rroot=$tmp/rpmroot
mkdir -p "$rroot"
if rpm --root "$rroot" --initdb >/dev/null 2>&1 &&
	rpm --root "$rroot" -i --nodeps --noscripts "$rpmfile" >"$tmp/rpm-i.out" 2>&1; then
	want "mailrecon --version from the RPM" test "$("$rroot/usr/bin/mailrecon" --version)" = "mailrecon $version"
	want "the RPM's state directory, installed" test "$(stat -c '%a' "$rroot/var/lib/mailrecon")" = 700
	verify_units "$rroot/usr/lib/systemd/system" "$rroot" /etc/sysconfig/mailrecon
else
	cat "$tmp/rpm-i.out" >&2
	fail "rpm --root -i of the RPM (above)"
fi

echo "package: $checks checks passed, $failures failed, $((SECONDS - t0)) s"
[ $failures -eq 0 ]
