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
    """The float32 matmul throughput of TensorFlow and of numpy on this machine.

    The higher of the two is the ceiling model FLOPs are measured against: where
    TensorFlow's own kernel is far below numpy's BLAS, the CPU could do more.
    """
    flops = 2 * size**3 * repeats
    a = tf.random.normal([size, size])
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    stopwatch = Stopwatch()
    for _ in range(repeats):
        result = matmul(a)
    result.numpy()  # TensorFlow may run ops asynchronously: the clock stops when the last is done
    tensorflow = flops / stopwatch.seconds() / 1e9
    b = a.numpy()
    b @ b
    stopwatch = Stopwatch()
    for _ in range(repeats):
        b @ b
    numpy = flops / stopwatch.seconds() / 1e9
    return {"tensorflow": round(tensorflow, 1), "numpy": round(numpy, 1)}


def memory_figures(config):
    """The process's peak memory, and on a GPU its peak memory and whether Keras takes cuDNN's GRU path."""
    figures = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if tf.config.list_physical_devices("GPU"):
        # On a GPU, Keras takes the cuDNN path when every GRU is eligible; say so, do not assume it.
        figures["cudnn_gru"] = cudnn_eligible(build_training_model(config, 100, 100))
        figures["gpu_peak_memory_mb"] = round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    return figures
