#!/usr/bin/env bash
# Compiles the Java peers of the interoperability tests (tests/interop/*.java: JavaMember, a KafkaConsumer
# group member, and JavaProducer, which writes compressed and transactional records) into target/java-peers,
# against the class path scripts/install-kafka.sh installs into .tools/kafka/libs (kafka-clients 4.4.0, and
# Jackson, which the peers use to write JSON). Run them with
#   java -cp 'target/java-peers:.tools/kafka/libs/*' JavaMember            (env: see JavaMember.java)
#   java -cp 'target/java-peers:.tools/kafka/libs/*' JavaProducer ARGS...  (see JavaProducer.java)
# A no-op when the classes are newer than the sources and the installed class path. Any failure stops here,
# loudly, with one line saying what is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "build-java-peers: $*" >&2; exit 1; }

[ -f scripts/install-kafka.sh ] || fail "scripts/install-kafka.sh is missing: it installs the kafka-clients class path the Java peers compile against"
bash scripts/install-kafka.sh || fail "scripts/install-kafka.sh failed (see above): no kafka-clients class path to compile against"
command -v javac >/dev/null || fail "javac is missing (Debian: apt-get install -y openjdk-17-jdk-headless)"

OUT=target/java-peers
BUILT="$OUT/.built" # touched after each successful build
LIBS=.tools/kafka/libs
SOURCES=(tests/interop/*.java tests/interop/log4j2.properties)

mkdir -p target
exec 9>target/.java-peers.lock # two test binaries may build at once: one waits for the other
flock 9

up_to_date() {
  [ -f "$BUILT" ] || return 1
  for source in "${SOURCES[@]}" "$LIBS"; do
    [ "$source" -nt "$BUILT" ] && return 1
  done
  return 0
}
if up_to_date; then
  exit 0
fi

# Built beside the output and swapped in, so an interrupted build never leaves half the classes behind.
rm -rf "$OUT.new"
mkdir -p "$OUT.new"
javac -Xlint:all,-path -cp "$LIBS/*" -d "$OUT.new" tests/interop/*.java ||
  fail "javac failed on tests/interop/*.java (see above)"
# log4j2 reads log4j2.properties from the class path: kafka-clients' logging goes to stderr, not stdout.
cp tests/interop/log4j2.properties "$OUT.new/"
touch "$OUT.new/.built"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
echo "build-java-peers: compiled $(find "$OUT" -name '*.class' | wc -l) classes into $OUT"
