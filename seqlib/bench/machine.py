"""The machine the figures come from: its CPU and GPU, TensorFlow's matmul peak on it, and memory.

A figure without its machine means nothing (CPUs differ fourfold in TensorFlow's
fp32 matmul peak), so the report starts with this section.
"""

import os
import resource

import keras
import tensorflow as tf

from seqlib.bench.timer import Stopwatch
from seqlib.hardware import cpu_description
from seqlib.models.gru import cudnn_eligible
from seqlib.models.registry import build_training_model


def describe(preset, quick, train_seconds):
    """The report's opening figures: the machine, the software, and what the run measures."""
    return {
        "cpu": cpu_description(),
        "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default"),
        "gpu": gpu_description(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "preset": preset,
        "quick": quick,
        "train_seconds": train_seconds,
    }


def gpu_description():
    """The visible GPUs by name, or an empty list."""
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return names


def matmul_peak_gflops(size=2048, repeats=10):
    """The matmul throughput of TensorFlow (float32 and bfloat16) and of numpy (float32) here.

    The higher float32 figure is the ceiling float32 model FLOPs are measured against:
    where TensorFlow's own kernel is far below numpy's BLAS, the CPU could do more.
    bfloat16 is the ceiling of a run in mixed bfloat16 (float16's too, on a GPU); on a
    CPU without AMX or AVX512-BF16 it is emulated, and far below float32.
    """
    a = tf.random.normal([size, size])
    tensorflow = _tensorflow_gflops(a, repeats)
    # Fewer repeats: where bfloat16 is emulated one product takes seconds.
    bfloat16 = _tensorflow_gflops(tf.cast(a, tf.bfloat16), max(2, repeats // 4))
    b = a.numpy()
    b @ b
    stopwatch = Stopwatch()
    for _ in range(repeats):
        b @ b
    numpy = 2 * size**3 * repeats / stopwatch.seconds() / 1e9
    return {"tensorflow": round(tensorflow, 1), "numpy": round(numpy, 1), "tensorflow_bfloat16": round(bfloat16, 1)}


def _tensorflow_gflops(a, repeats):
    """GFLOP/s of TensorFlow's a @ a, a square matrix, over `repeats` products after one untimed."""
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    stopwatch = Stopwatch()
    for _ in range(repeats):
        result = matmul(a)
    result.numpy()  # TensorFlow may run ops asynchronously: the clock stops when the last is done
    return 2 * int(a.shape[0]) ** 3 * repeats / stopwatch.seconds() / 1e9


def peaks_by_precision(matmul_peak):
    """{"float32", "bfloat16"}: the ceilings model FLOPs are a share of, from matmul_peak_gflops()."""
    return {"float32": max(matmul_peak["tensorflow"], matmul_peak["numpy"]), "bfloat16": matmul_peak["tensorflow_bfloat16"]}


def memory_figures(config):
    """The process's peak memory, and on a GPU its peak memory and whether Keras takes cuDNN's GRU path."""
    figures = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if tf.config.list_physical_devices("GPU"):
        # On a GPU, Keras takes the cuDNN path when every GRU is eligible; say so, do not assume it.
        figures["cudnn_gru"] = cudnn_eligible(build_training_model(config, 100, 100))
        figures["gpu_peak_memory_mb"] = round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    return figures
