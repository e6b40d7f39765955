#!/usr/bin/env bash
# The one-shot GPU check: run from a checkout, with its requirements installed, on a
# machine with an NVIDIA GPU (Colab, a lent machine), as ONE command:
#
#     bash bench/gpu_check.sh [OUT_DIR]        # default OUT_DIR: runs/gpu-check
#
# It names the GPU and driver, runs the gpu-path tests on the GPU, trains the `gpu`
# preset for 300 s, scores it greedy and with beam 4 on the run's test split, runs
# `bench --quick`, and prints one Markdown table for bench/README.md. Every step's
# output is kept in OUT_DIR. Planned to take under 9 minutes on a T4 or better.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu-check}
if [ -e "$out" ]; then
    echo "gpu_check: $out exists; give a new OUT_DIR (or remove it) so the figures are from this run" >&2
    exit 2
fi
mkdir -p "$out"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
started=$SECONDS
step() { echo "gpu_check: $1 ($((SECONDS - started)) s)" >&2; }

step "GPU and driver"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1 | tee "$out/gpu.txt"
python -c "import tensorflow as tf; gpus = tf.config.list_physical_devices('GPU'); print(tf.__version__, len(gpus)); assert gpus, 'TensorFlow sees no GPU'" | tee "$out/tensorflow.txt"

step "gpu-path tests"
python -m pytest -q -p no:cacheprovider tests/test_gpu_path.py 2>&1 | tee "$out/tests.txt" | tail -n 1

step "train --config gpu --time-budget 300"
python -m seqlib train --config gpu --out "$out/run" --time-budget 300 2> "$out/train.log"
tail -n 3 "$out/train.log"

step "evaluate greedy and beam 4 on the test split"
python -m seqlib evaluate --model "$out/run" --json > "$out/greedy.json"
python -m seqlib evaluate --model "$out/run" --beam 4 --json > "$out/beam4.json"

step "bench --quick"
python -m seqlib bench --quick --model "$out/run" --config gpu --json "$out/bench.json" > "$out/bench.txt"

step "done"
python - "$out" "$((SECONDS - started))" <<'PY'
import json, re, sys
from pathlib import Path

out, seconds = Path(sys.argv[1]), sys.argv[2]
greedy, beam = (json.loads((out / name).read_text()) for name in ("greedy.json", "beam4.json"))
bench = json.loads((out / "bench.json").read_text())
train_log = (out / "train.log").read_text()
epochs = re.findall(r"^Epoch (\d+)/", train_log, re.MULTILINE)
speeds = [float(value) for value in re.findall(r"tokens_per_s: ([\d.]+)", train_log)]
tests = (out / "tests.txt").read_text().strip().splitlines()[-1]
rows = [
    ("GPU, driver", (out / "gpu.txt").read_text().strip()),
    ("TensorFlow, GPUs seen", (out / "tensorflow.txt").read_text().strip()),
    ("gpu-path tests", tests),
    ("precision train chose", next((line for line in train_log.splitlines() if line.startswith("precision:")), "not said")),
    ("train --config gpu --time-budget 300: epochs", epochs[-1] if epochs else "none"),
    ("training target tokens/s (epochs after the first)", ", ".join(f"{s:,.0f}" for s in speeds[1:] or speeds)),
    ("test split: greedy BLEU / chrF", f"{greedy['bleu']:.1f} / {greedy['chrf']:.1f} ({greedy['n']} sentences, {greedy['sentences_per_s']} sentences/s)"),
    ("test split: beam 4 BLEU / chrF", f"{beam['bleu']:.1f} / {beam['chrf']:.1f} ({beam['sentences_per_s']} sentences/s)"),
    ("bench --quick: training tokens/s", json.dumps(bench.get("train_tokens_per_s"))),
    ("bench --quick: greedy sentences/s", json.dumps(bench.get("greedy_sentences_per_s"))),
    ("bench --quick: beam sentences/s", json.dumps(bench.get("beam_sentences_per_s"))),
    ("bench --quick: batch-1 ms, first call s", f"{bench.get('greedy_batch1_ms')}, {bench.get('first_call_s')}"),
    ("whole check, seconds", seconds),
]
print("\n| measure | value |\n|---|---|")
for name, value in rows:
    print(f"| {name} | {value} |")
PY
