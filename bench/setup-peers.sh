#!/usr/bin/env bash
# bench/setup-peers.sh - what `make bench` needs besides hotdog: rsyslog's omkafka, omrelp and
# imrelp, and gnuplot from apt, and syslog-ng with its Kafka module unpacked (not installed: syslog-ng-core
# conflicts with rsyslog) into build/syslog-ng, run from there by bench/bench.py.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
B=${B:-$ROOT/build}
SNG=$B/syslog-ng
log() { printf 'setup-peers: %s\n' "$*" >&2; }
SUDO=()
[[ $(id -u) == 0 ]] || SUDO=(sudo)

need=()
[[ -e /usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so ]] || need+=(rsyslog-kafka)
[[ -e /usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so && -e /usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so ]] ||
  need+=(rsyslog-relp)
command -v rsyslogd >/dev/null || need+=(rsyslog)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v kcat >/dev/null || need+=(kcat)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  # Never let a package's postinst start a daemon (rsyslog would take port 514).
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y --no-install-recommends "${need[@]}" >&2
fi

if [[ ! -x $SNG/usr/sbin/syslog-ng || ! -e $SNG/usr/lib/syslog-ng/3.38/libkafka.so ]]; then
  log "unpacking syslog-ng and its Kafka module into $SNG"
  mkdir -p "$SNG/debs"
  # Libraries syslog-ng needs that a Debian 12 with rsyslog lacks (apt-cache depends syslog-ng-core).
  (cd "$SNG/debs" && apt-get download syslog-ng-core syslog-ng-mod-rdkafka libivykis0 libnet1 libpcre3 libwrap0 >&2)
  for d in "$SNG"/debs/*.deb; do dpkg -x "$d" "$SNG"; done
fi
export LD_LIBRARY_PATH=$SNG/usr/lib/syslog-ng:$SNG/usr/lib/x86_64-linux-gnu:$SNG/lib/x86_64-linux-gnu
missing=$(ldd "$SNG/usr/sbin/syslog-ng" "$SNG/usr/lib/syslog-ng/3.38/libkafka.so" \
  "$SNG/usr/lib/syslog-ng/3.38/libafsocket.so" | grep 'not found' || true)
[[ -z $missing ]] || { log "syslog-ng libraries missing: $missing"; exit 1; }
log "ready: $(rsyslogd -v | head -1 | awk "{print \$1, \$2}"); $("$SNG/usr/sbin/syslog-ng" --version | head -1); $(gnuplot --version)"
