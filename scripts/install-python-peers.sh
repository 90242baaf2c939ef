#!/usr/bin/env bash
# Installs the Python Kafka clients the interoperability tests run as peers into .tools/python (git-ignored):
#   aiokafka         an independent pure-Python client (tests/interop/aiokafka_member.py)
#   confluent-kafka  Python bindings over librdkafka, the C client most non-Java services use; the wheel
#                    bundles librdkafka, so nothing is compiled (tests/interop/librdkafka_member.py)
# Both pinned. Use with PYTHONPATH=.tools/python. A stamp file names the versions, so a second run is a no-op
# and a changed pin reinstalls. A failed install stops here, loudly, and leaves no stamp.
set -euo pipefail
cd "$(dirname "$0")/.."
AIOKAFKA="0.14.0"
CONFLUENT_KAFKA="2.16.1" # bundles librdkafka 2.16.0
TARGET="$PWD/.tools/python"
STAMP="$TARGET/.python-peers-aiokafka-$AIOKAFKA-confluent-kafka-$CONFLUENT_KAFKA"

mkdir -p .tools
exec 9>.tools/.python-peers.lock # two test binaries may install at once: one waits for the other
flock 9
if [ -f "$STAMP" ]; then
  exit 0
fi

# Install next to the target and swap it in only once both import, so a half-done install is never used.
rm -rf "$TARGET.new"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  --only-binary=confluent-kafka --target "$TARGET.new" \
  "aiokafka==$AIOKAFKA" "confluent-kafka==$CONFLUENT_KAFKA"
PYTHONPATH="$TARGET.new" python3 -c "
import aiokafka, confluent_kafka
print('install-python-peers: aiokafka', aiokafka.__version__, '| confluent-kafka', confluent_kafka.version()[0],
      'with librdkafka', confluent_kafka.libversion()[0])
"
touch "${STAMP/$TARGET/$TARGET.new}"
rm -rf "$TARGET"
mv "$TARGET.new" "$TARGET"
