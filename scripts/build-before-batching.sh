#!/usr/bin/env bash
# Builds the producer as it was before it batched concurrent sends (commit f0225b8: one Produce request per
# POST) into target/before-batching/release/producer, for `make bench`: the issue's "≥ 4× today's POST/s" and
# "one-client p50 unchanged" are then measured against it in the same run, on the same broker, with the same
# load client, instead of against figures from another day. Built once; later runs reuse it.
set -euo pipefail

cd "$(dirname "$0")/.."
COMMIT=f0225b8
OUT="$PWD/target/before-batching"
BIN="$OUT/release/producer"

if [ -x "$BIN" ]; then
  exit 0
fi
git cat-file -e "$COMMIT^{commit}" 2>/dev/null \
  || { echo "build-before-batching: commit $COMMIT is not in this clone (a shallow clone? git fetch --unshallow)" >&2; exit 1; }

# The old sources go to a directory of their own, outside this crate (cargo would otherwise look for a
# workspace in the directories above them).
src=$(mktemp -d "${TMPDIR:-/tmp}/kafka-lab-before-batching.XXXXXX")
trap 'rm -rf "$src"' EXIT
git archive "$COMMIT" | tar -x -C "$src"
echo "build-before-batching: building the producer of $COMMIT (once, about two minutes)"
env -u CARGO_TARGET_DIR cargo build --quiet --release --locked --bin producer \
  --manifest-path "$src/Cargo.toml" --target-dir "$OUT"
test -x "$BIN"
