# scripts/lib/progress.bash — progress for long steps, sourced by install-deps, build-librdkafka,
# kafka-local and run. The sourcing script defines log() (its own prefix, to stderr) and
# REPO_ROOT; everything here prints through log().
#
# A long step runs with its output in a log file, not on the screen: the screen gets one line
# when it starts (what, and where the log is), a "still working" line every PROGRESS_EVERY
# seconds (default 15) with the log's last line, and on failure the end of the log and its path.

PROGRESS_EVERY=${PROGRESS_EVERY:-15}
PROGRESS_TAIL=${PROGRESS_TAIL:-40}

# A path as the user typed it from the top of the checkout (where make runs).
rel() { printf '%s' "${1#"$REPO_ROOT"/}"; }

# Seconds since $1 (from `date +%s%3N`), as "12.3 s".
since() {
  local ms=$(($(date +%s%3N) - $1))
  printf '%d.%d s' $((ms / 1000)) $(((ms % 1000) / 100))
}

# The last non-empty line of log $1, made printable and cut to 70 characters.
last_line() {
  local line
  line=$(tail -c 4096 "$1" 2>/dev/null | tr '\r' '\n' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' |
    grep -v '^[[:space:]]*$' | tail -n 1 || true)
  line=${line#"${line%%[![:space:]]*}"}
  # A compiler's command line says little in 70 characters: name the file it compiles.
  if [[ $line =~ ^[^[:space:]]*(cc|gcc|clang)[[:space:]].*[[:space:]]-c[[:space:]]+([^[:space:]]+) ]]; then
    line="compiling ${BASH_REMATCH[2]}"
  fi
  (( ${#line} <= 70 )) || line="${line:0:67}..."
  printf '%s' "$line"
}

# Prints "WHAT: still working, N s: <last log line> (log: LOG)" every PROGRESS_EVERY seconds
# until killed (or until the script that started it is gone). Run in the background.
progress_ticker() {
  local what=$1 logf=$2 t0 sleeper= main=$$
  t0=$(date +%s)
  trap '[[ -z $sleeper ]] || kill "$sleeper" 2>/dev/null; exit 0' TERM
  while kill -0 "$main" 2>/dev/null; do
    sleep "$PROGRESS_EVERY" &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=
    kill -0 "$main" 2>/dev/null || break
    local last
    last=$(last_line "$logf")
    log "$what: still working, $(($(date +%s) - t0)) s${last:+: $last} (log: $(rel "$logf"))"
  done
}

# run_logged WHAT LOG CMD...: runs CMD (stdin from /dev/null) with its output appended to LOG,
# with a progress_ticker beside it. On failure prints the last PROGRESS_TAIL lines of LOG and
# "WHAT failed after N s (log: LOG)", and returns CMD's status; on success prints nothing (the
# caller says what was done, and how long it took).
run_logged() {
  local what=$1 logf=$2 rc=0 t0 tick
  shift 2
  mkdir -p "$(dirname "$logf")"
  t0=$(date +%s%3N)
  progress_ticker "$what" "$logf" &
  tick=$!
  "$@" </dev/null >>"$logf" 2>&1 || rc=$?
  kill "$tick" 2>/dev/null || true
  wait "$tick" 2>/dev/null || true
  if (( rc != 0 )); then
    log "---- last lines of $(rel "$logf") ----"
    tail -n "$PROGRESS_TAIL" "$logf" >&2 || true
    log "----"
    log "$what failed (exit $rc) after $(since "$t0") (whole log: $(rel "$logf"))"
  fi
  return "$rc"
}

# What listens on 127.0.0.1 (or any address) TCP port $1, as "NAME, pid N", from ss; empty
# when ss cannot tell (not installed, or a process of another user seen without root).
port_holder() {
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null |
    sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1, pid \2/p' | head -n 1
}
