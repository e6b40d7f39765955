"""What this machine's CPU is, and the TensorFlow kernels chosen for it.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 class
features; on an AVX2-only x86 CPU it falls back to Eigen kernels built without
FMA. Measured on the project's 2-core AMD EPYC (AVX2 only, see bench/README.md):
oneDNN on trains the cpu preset 20-35 % faster (2,157-2,285 -> 2,750-2,908 target
tokens/s) and runs the vocabulary projection's matmul at 119 instead of 63
GFLOP/s. So seqlib turns oneDNN on for every x86 CPU with AVX2, unless the user
chose (TF_ENABLE_ONEDNN_OPTS set) or TensorFlow is already imported; on AVX-512
CPUs that is TensorFlow's own default, so nothing changes there.
"""

import contextlib
import os
import platform
import sys
from pathlib import Path

from seqlib.precision import MIXED_FLOAT16


def cpu_description():
    """{"model", "cores", "avx2", "avx512", "avx512_bf16", "avx512_fp16", "amx"}: the model name, the
    cores this process may use, and the vector extensions TensorFlow's kernels can use
    (from /proc/cpuinfo on Linux; the flags are False where it cannot be read)."""
    name, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "model": name,
        "cores": cores,
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "avx512_fp16": "avx512_fp16" in flags,
        "amx": "amx_tile" in flags,
    }


# Marks a TF_ENABLE_ONEDNN_OPTS that seqlib set (inherited by child processes too), so a
# later, better-informed choice may change it, where one the user set is never touched.
CHOSEN_BY_SEQLIB = "SEQLIB_CHOSE_ONEDNN"


def choose_onednn(cpu=None, environ=os.environ):
    """Sets TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow loads on an x86 CPU with AVX2.

    Returns "1" or "0" (what TensorFlow will use where seqlib or the user decided),
    or None (TensorFlow's own choice: already imported, or not an x86 CPU with AVX2).
    """
    if "TF_ENABLE_ONEDNN_OPTS" in environ:
        return environ["TF_ENABLE_ONEDNN_OPTS"]
    if "tensorflow" in sys.modules:
        return None
    cpu = cpu or cpu_description()
    if not cpu["avx2"]:
        return None
    return _set_onednn("1", environ)


def choose_onednn_for_precision(precision, cpu=None, environ=os.environ):
    """Turns oneDNN off before TensorFlow loads for training in mixed float16 on a CPU
    with AVX-512, unless the user chose (TF_ENABLE_ONEDNN_OPTS set by them).

    Measured, the cpu preset's shapes (bench/precision_ops.py and bench/README.md):
    - on the project's Intel Xeon (AVX-512, AMX), where oneDNN is TensorFlow's own
      default, the cpu preset's training step under mixed float16 ran 74 target tokens/s
      with oneDNN and 4,609 without it (2026-12-05): oneDNN takes float16 ops there
      onto a path that crawls;
    - on the AMD EPYC (AVX2 only) float16 ops took 1.14-1.2x float32's time with oneDNN
      and 0.86-1.29x without it, the gradients slower without: nothing to avoid there.
    The gpu preset's tests and the README's CPU check train in float16 (what a T4 gets),
    so without this they would crawl on the Intel CPU. On a GPU machine only the CPU's
    share of the work (the input pipeline) changes.

    Returns "0" where it turned oneDNN off, else None.
    """
    if precision != MIXED_FLOAT16 or "tensorflow" in sys.modules:
        return None
    if "TF_ENABLE_ONEDNN_OPTS" in environ and CHOSEN_BY_SEQLIB not in environ:
        return None
    cpu = cpu or cpu_description()
    if not cpu.get("avx512"):
        return None
    return _set_onednn("0", environ)


def _set_onednn(value, environ):
    """Sets TF_ENABLE_ONEDNN_OPTS to `value`, marked as seqlib's choice; returns `value`."""
    environ["TF_ENABLE_ONEDNN_OPTS"] = value
    environ[CHOSEN_BY_SEQLIB] = "1"
    return value
