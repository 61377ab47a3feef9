#!/usr/bin/env bash
# bench/hotdog-e2e.sh - hotdog end to end: corpus over K TCP connections -> hotdog -> Kafka
# (acks=all) until the topic's high watermark reaches N. Prints one line per run; repeat runs
# interleave the configurations given, so noise hits them alike.
# usage: bench/hotdog-e2e.sh [-n LINES] [-k CONNS] [-r REPEAT] [linger.ms ...]
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
B=${B:-$ROOT/build}
KAFKA_PORT=${KAFKA_PORT:-9092}
N=500000 K=4 R=3
while getopts n:k:r: o; do
  case $o in n) N=$OPTARG ;; k) K=$OPTARG ;; r) R=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
LINGERS=("${@:-5}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[[ -s $B/corpus.txt ]] || python3 "$ROOT/bench/gen-corpus.py" 1000000 > "$B/corpus.txt"
head -n "$N" "$B/corpus.txt" > "$work/corpus.txt"
bytes=$(stat -c %s "$work/corpus.txt")

one_run() {
  local linger=$1 topic port pid t0 t1 off cpu
  topic="bench-$linger-$RANDOM$RANDOM"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$work/h.yml" <<Y
global:
  listen: {address: 127.0.0.1, port: $port}
  kafka:
    conf: {bootstrap.servers: '127.0.0.1:$KAFKA_PORT', linger.ms: $linger}
    topic: $topic
Y
  "$B/hotdog" -q -c "$work/h.yml" & pid=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
  t0=$(date +%s.%N)
  "$B/sender" "$work/corpus.txt" 127.0.0.1 "$port" "$K" 2>/dev/null
  while :; do
    off=$(kcat -Q -b "127.0.0.1:$KAFKA_PORT" -t "$topic:0:-1" 2>/dev/null | awk '{print $NF}')
    [[ ${off:-0} =~ ^[0-9]+$ ]] && (( off >= N )) && break
    sleep 0.02
  done
  t1=$(date +%s.%N)
  cpu=$(awk '{print ($14+$15)/100}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" || true
  python3 -c "s=$t1-$t0; print(f'linger.ms=$linger lines=$N conns=$K secs={s:.2f} msgs/s={$N/s:.0f} MB/s={$bytes/s/1e6:.1f} hotdog_cpu_s=$cpu')"
}

for ((r = 0; r < R; r++)); do
  for l in "${LINGERS[@]}"; do one_run "$l"; done
done
