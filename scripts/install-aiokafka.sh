#!/usr/bin/env bash
# Installs aiokafka (the independent Python Kafka client used by the interoperability tests) into
# .tools/python (git-ignored). A failed install stops here, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="$PWD/.tools/python"
VERSION="0.14.0"
if [ -f "$TARGET/.aiokafka-$VERSION" ]; then
  exit 0
fi
rm -rf "$TARGET"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$TARGET" "aiokafka==$VERSION"
PYTHONPATH="$TARGET" python3 -c "import aiokafka; print('install-aiokafka: aiokafka', aiokafka.__version__)"
touch "$TARGET/.aiokafka-$VERSION"
