#!/usr/bin/env bash
# Installs Apache Kafka's broker, tools and Java client (kafka/pom.xml) into .tools/kafka (git-ignored), for
# scripts/kafka-cluster.sh: no Docker and no tarball, just Java 17+ and Maven.
#   .tools/kafka/libs/   the runtime class path, 92 jars from Maven Central (mvn dependency:copy-dependencies)
#   .tools/kafka/cds/    class-data archives made by starting a node, a tool and a format once: later JVMs map
#                        the classes they loaded instead of loading them again, and start in half the time.
#                        Starting a node here also proves the broker runs on this machine.
# A fast no-op once installed: a stamp records the Kafka version, the pom's hash and the java binary, so editing
# the pom or changing the JDK installs again. Any failure stops here, loudly, with one line saying what is wrong.
set -euo pipefail
cd "${BASH_SOURCE[0]%/*}/.."

fail() { echo "install-kafka: $*" >&2; exit 1; }

KAFKA_DIR="$PWD/.tools/kafka"
LIBS="$KAFKA_DIR/libs"
STAMP="$KAFKA_DIR/.installed"
POM=kafka/pom.xml
[ -f "$POM" ] || fail "$POM is missing"
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
[ -n "$VERSION" ] || fail "no <kafka.version> in $POM"
JAVA_BIN=$(readlink -f "$(command -v java)" 2>/dev/null || true)
WANT="kafka-lab 2 kafka $VERSION pom $(sha256sum "$POM" | cut -d' ' -f1) java $JAVA_BIN $(stat -c %Y "$JAVA_BIN" 2>/dev/null || true)"

installed() { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -d "$LIBS" ]; }
installed && exit 0

# What the broker needs on this machine. Each check names the missing piece in one line.
command -v java >/dev/null \
  || fail "java is missing: Apache Kafka $VERSION needs Java 17 or newer (Debian: apt-get install -y openjdk-17-jre-headless)"
JAVA_SPEC=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
JAVA_MAJOR=${JAVA_SPEC#1.} # 1.8 -> 8, 17 -> 17
JAVA_MAJOR=${JAVA_MAJOR%%.*}
[[ "$JAVA_MAJOR" =~ ^[0-9]+$ ]] || fail "cannot tell the version of $(command -v java) (no java.specification.version)"
[ "$JAVA_MAJOR" -ge 17 ] || fail "java $JAVA_SPEC is too old: Apache Kafka $VERSION needs Java 17 or newer ($(command -v java))"
command -v mvn >/dev/null \
  || fail "mvn (Maven) is missing: it fetches Apache Kafka's jars from Maven Central (Debian: apt-get install -y maven)"

mkdir -p "$KAFKA_DIR"
# Two installs at once (e.g. two test binaries) take turns; the second then finds the stamp.
exec 9>"$KAFKA_DIR/.lock"
flock 9
installed && exit 0

echo "install-kafka: fetching Apache Kafka $VERSION (broker, tools, client) from Maven Central into .tools/kafka/libs"
start=$(date +%s%3N)
rm -rf "$LIBS.tmp" "$KAFKA_DIR/cds.tmp" "$STAMP"
# The runtime class path, as the distribution's libs/ directory would hold it, copied to a temporary directory
# first so an interrupted install never leaves half a class path behind.
if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
  -DoutputDirectory="$LIBS.tmp" -DincludeScope=runtime >"$KAFKA_DIR/mvn.log" 2>&1; then
  # Maven's own reason (e.g. "Could not find artifact ..." or "Could not transfer ..."), without its colour codes.
  sed 's/\x1b\[[0-9;]*m//g' "$KAFKA_DIR/mvn.log" | grep -E '^\[(ERROR|FATAL)\] .*[a-z]' | head -1 | cut -c1-600 >&2 || true
  fail "Maven could not fetch Apache Kafka $VERSION's jars (is Maven Central reachable?); its output is in .tools/kafka/mvn.log"
fi
for jar in "kafka_2.13-$VERSION.jar" "kafka-tools-$VERSION.jar" "kafka-clients-$VERSION.jar"; do
  [ -f "$LIBS.tmp/$jar" ] || fail "Maven did not copy $jar; see .tools/kafka/mvn.log"
done
# The broker logs through SLF4J 2 to log4j2 (kafka/log4j2.properties); with an SLF4J 1.x API it logs nothing.
compgen -G "$LIBS.tmp/slf4j-api-2.*.jar" >/dev/null \
  || fail "slf4j-api 2.x is not on the class path, so the broker would log nothing (see kafka/pom.xml)"
if diff -rq "$LIBS.tmp" "$LIBS" >/dev/null 2>&1; then
  rm -rf "$LIBS.tmp" # the same jars: leave the ones running nodes may have open in place
else
  rm -rf "$LIBS" "$KAFKA_DIR/cds"
  mv "$LIBS.tmp" "$LIBS"
fi

echo "install-kafka: starting a node once to record its classes (.tools/kafka/cds)"
bash scripts/kafka-cluster.sh train "$KAFKA_DIR/cds.tmp" \
  || fail "the first run of Apache Kafka $VERSION failed (see above)"
rm -rf "$KAFKA_DIR/cds"
mv "$KAFKA_DIR/cds.tmp" "$KAFKA_DIR/cds"

echo "$WANT" >"$STAMP"
ms=$(($(date +%s%3N) - start))
printf 'install-kafka: Apache Kafka %s installed in .tools/kafka (%s jars, %s) in %d.%d s\n' "$VERSION" \
  "$(find "$LIBS" -name '*.jar' | wc -l)" "$(du -sh "$KAFKA_DIR" | cut -f1)" $((ms / 1000)) $((ms % 1000 / 100))
