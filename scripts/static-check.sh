#!/usr/bin/env bash
# static-check: proves that the static binaries the Docker images ship (compose/Dockerfile, FROM scratch)
# resolve host names from /etc/hosts and from DNS inside an otherwise empty root, and reach a broker by name.
# No Docker engine needed: the same build runs here, and `chroot` stands in for the container's empty root.
#
# Why it can work: since glibc 2.34 the "files" and "dns" name services are built into libc itself, so a
# statically linked getaddrinfo reads /etc/hosts and asks the nameserver in /etc/resolv.conf without loading
# any libnss_*.so. (Other NSS modules, e.g. mdns or LDAP, would still need dlopen; the images don't use them.)
#
# What runs, all inside a private network namespace (own loopback, so nothing clashes with a running
# `make demo`, port 53 is free, and no packet leaves the namespace):
#   - a Tansu broker on 127.0.0.1:9092 that advertises itself as kafka-test:9092,
#   - a tiny DNS server on 127.0.0.11:53 (the address of Docker's embedded DNS) that knows only kafka-dns,
#   - the producer, chrooted into a directory holding the binaries and an /etc like Docker gives a container:
#       hosts        127.0.0.1 kafka-test
#       resolv.conf  nameserver 127.0.0.11
#       nsswitch.conf  hosts: files dns   (what the image ships)
# Checks: bootstrap kafka-test (/etc/hosts) -> POST answers 200; bootstrap kafka-dns (DNS; then the advertised
# kafka-test from /etc/hosts) -> 200; bootstrap kafka-nowhere (NXDOMAIN) -> 503, so a broken resolver can't
# pass. When the binaries support them, also `--healthcheck` and a chrooted consumer receiving an event.
#
# Needs root (chroot, network namespace), python3 and curl. Exits non-zero on any failure.
set -euo pipefail

SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

MAX_BYTES=10000000 # 10 MB per binary
TARGET=x86_64-unknown-linux-gnu
BIN_DIR="$PWD/target/static/$TARGET/release"

if [ "${STATIC_CHECK_IN_NETNS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "static-check: needs root (chroot and a network namespace)" >&2; exit 1; }
  for tool in python3 curl unshare chroot ip readelf; do
    command -v "$tool" >/dev/null || { echo "static-check: $tool is missing" >&2; exit 1; }
  done
  bash scripts/install-tansu.sh
  # Same command as compose/Dockerfile (so --locked: a Cargo.lock out of date would break the image build too).
  # Its own target dir keeps the shared target/ cache intact; --target keeps crt-static off build scripts and
  # proc-macros, which must stay dynamic.
  echo "static-check: building static binaries (CARGO_TARGET_DIR=target/static)"
  CARGO_TARGET_DIR=target/static RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --bins --features tls --target "$TARGET"
  # Everything else runs in a fresh network namespace; re-enter this script there.
  exec unshare --net env STATIC_CHECK_IN_NETNS=1 bash "$SELF" "$@"
fi

ip link set lo up
CHROOT="$(command -v chroot)" # absolute: `env -i` below clears PATH
TIMEOUT="$(command -v timeout)"
WORK="$(mktemp -d /tmp/static-check.XXXXXX)"
ROOT="$WORK/root"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
FAILED=0
pass() { echo "  ok    $*"; }
fail() { echo "  FAIL  $*"; FAILED=1; }

wait_for_port() { # port, seconds[, pid]: until something listens on 127.0.0.1:port (or pid has exited)
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

echo "static-check: binaries"
for bin in producer consumer; do
  size=$(stat -c %s "$BIN_DIR/$bin")
  if readelf -lW "$BIN_DIR/$bin" | grep -q 'program interpreter'; then
    fail "$bin is dynamically linked (it has a program interpreter)"
  elif [ "$size" -gt "$MAX_BYTES" ]; then
    fail "$bin is $size bytes, over $MAX_BYTES"
  else
    pass "$bin: static, $size bytes ($((size / 1024)) KiB)"
  fi
done

# The empty root: the binaries and the three files a container's /etc holds.
mkdir -p "$ROOT/etc"
cp "$BIN_DIR/producer" "$BIN_DIR/consumer" "$ROOT/"
echo "127.0.0.1 kafka-test" >"$ROOT/etc/hosts"
echo "nameserver 127.0.0.11" >"$ROOT/etc/resolv.conf"
echo "hosts: files dns" >"$ROOT/etc/nsswitch.conf"
echo "static-check: empty root $ROOT holds: $(cd "$ROOT" && find . -type f | sort | tr '\n' ' ')"

# A DNS server that answers A kafka-dns -> 127.0.0.1, NODATA for its other record types, NXDOMAIN otherwise.
cat >"$WORK/dns.py" <<'PY'
import socket, struct, sys
NAMES = {"kafka-dns": "127.0.0.1"}
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    query, peer = sock.recvfrom(512)
    ident, flags = struct.unpack(">HH", query[:4])
    i, labels = 12, []
    while query[i]:
        labels.append(query[i + 1 : i + 1 + query[i]].decode())
        i += 1 + query[i]
    (qtype,) = struct.unpack(">H", query[i + 1 : i + 3])
    question, name = query[12 : i + 5], ".".join(labels).lower()
    ip, answer = NAMES.get(name), b""
    if ip and qtype == 1:  # A record, TTL 5 s, name by pointer to the question
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton(ip)
    rcode = 0 if ip else 3
    header = struct.pack(">HHHHHH", ident, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1, 1 if answer else 0, 0, 0)
    sock.sendto(header + question + answer, peer)
    print(f"query {name} type {qtype}: {ip if answer else ('no data' if ip else 'NXDOMAIN')}", flush=True)
PY
python3 "$WORK/dns.py" 127.0.0.11 >"$WORK/dns.log" 2>&1 &
PIDS+=($!)

.tools/bin/tansu broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://kafka-test:9092 \
  --storage-engine memory://tansu/ >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
wait_for_port 9092 10 || { cat "$WORK/broker.log"; echo "static-check: the broker did not start" >&2; exit 1; }
.tools/bin/tansu topic create first-topic --partitions 2 --broker tcp://127.0.0.1:9092 >/dev/null
for _ in $(seq 100); do grep -q ready "$WORK/dns.log" && break; sleep 0.05; done
grep -q ready "$WORK/dns.log" || { cat "$WORK/dns.log"; echo "static-check: the DNS server did not start" >&2; exit 1; }

# Runs the chrooted producer with a clean environment; its pid goes to PRODUCER.
start_producer() { # bootstrap servers, log file
  env -i KAFKA_BOOTSTRAP_SERVERS="$1" HOST=127.0.0.1 PORT=5000 RUST_LOG=info NO_COLOR=1 \
    "$CHROOT" "$ROOT" /producer >"$2" 2>&1 &
  PRODUCER=$!
  PIDS+=("$PRODUCER")
  wait_for_port 5000 10 "$PRODUCER" || { cat "$2"; echo "static-check: the chrooted producer did not listen" >&2; exit 1; }
}
stop_producer() {
  kill "$PRODUCER" 2>/dev/null || true
  wait "$PRODUCER" 2>/dev/null || true
}
post_event() { # [json body]; prints "<status> <body>"
  local event="${1:-}"
  [ -n "$event" ] || event='{"id":1}'
  curl -s --max-time 20 -o "$WORK/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d "$event" http://127.0.0.1:5000/ || true
  echo " $(cat "$WORK/body" 2>/dev/null)"
}
expect_post() { # expected status, bootstrap, what it proves
  local log="$WORK/producer-$2.log" got
  start_producer "$2" "$log"
  got=$(post_event)
  if [ "${got%% *}" = "$1" ]; then
    pass "bootstrap $2: POST / -> $got ($3)"
  else
    fail "bootstrap $2: POST / -> $got, expected $1 ($3); producer log:"
    sed 's/^/        /' "$log"
  fi
  stop_producer
}

echo "static-check: name resolution in the empty root (broker advertises kafka-test:9092)"
expect_post 200 kafka-test:9092 "name from /etc/hosts"
expect_post 200 kafka-dns:9092 "bootstrap name from DNS, advertised name from /etc/hosts"
expect_post 503 kafka-nowhere:9092 "an unknown name fails, so the checks above are real"
grep -q 'query kafka-dns type 1: 127.0.0.1' "$WORK/dns.log" &&
  pass "the DNS server answered the binary's query: $(grep -m1 'query kafka-dns type 1' "$WORK/dns.log")" ||
  fail "the DNS server never saw a query for kafka-dns"

# The images' health check is ["CMD", "/<binary>", "--healthcheck"]: GET /ping on 127.0.0.1:$PORT. It gets only
# PORT here: a health check must not need the service's other variables.
healthcheck() { # binary, port, "up" or "down"
  local out status
  set +e
  out=$(env -i PORT="$2" "$TIMEOUT" 10 "$CHROOT" "$ROOT" "/$1" --healthcheck 2>&1)
  status=$?
  set -e
  if [ "$3" = up ] && [ "$status" = 0 ]; then
    pass "$1 --healthcheck exits 0 while /ping answers"
  elif [ "$3" = down ] && [ "$status" != 0 ] && [ "$status" != 124 ]; then
    pass "$1 --healthcheck exits $status with nothing listening"
  else
    fail "$1 --healthcheck exited $status with the service $3: $out"
  fi
}

echo "static-check: health check command of the images"
start_producer kafka-test:9092 "$WORK/producer-health.log"
healthcheck producer 5000 up
stop_producer
healthcheck producer 5000 down

echo "static-check: chrooted consumer (group layer: its own connections to the coordinator)"
start_producer kafka-test:9092 "$WORK/producer-consumer.log"
env -i KAFKA_BOOTSTRAP_SERVERS=kafka-dns:9092 CONSUMER_GROUP=static-check HOST=127.0.0.1 PORT=8000 NO_COLOR=1 \
  "$CHROOT" "$ROOT" /consumer >"$WORK/consumer.log" 2>&1 &
CONSUMER=$!
PIDS+=("$CONSUMER")
if ! wait_for_port 8000 10 "$CONSUMER"; then
  set +e
  wait "$CONSUMER"
  status=$?
  set -e
  fail "the chrooted consumer exited with status $status; log:"
  sed 's/^/        /' "$WORK/consumer.log"
else
  # A new group starts at the latest offset: keep sending until the consumer has joined and gets one.
  got=""
  for i in $(seq 60); do
    post_event "{\"id\":$i}" >/dev/null
    got=$(curl -s --max-time 5 http://127.0.0.1:8000/ || true)
    [[ "$got" == *'"consumed"'* ]] && break
    sleep 0.5
  done
  if [[ "$got" == *'"consumed"'* ]]; then
    pass "the consumer joined through kafka-dns and received: $got"
    healthcheck consumer 8000 up
  else
    fail "the consumer received nothing in 30 s (last GET /: '$got'); log:"
    sed 's/^/        /' "$WORK/consumer.log"
  fi
fi
stop_producer

if [ "$FAILED" = 0 ]; then
  echo "static-check: passed"
else
  echo "static-check: FAILED" >&2
  exit 1
fi
