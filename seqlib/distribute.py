"""Choosing the tf.distribute strategy that training runs under.

    default      one device (the GPU if there is one, else the CPU)
    mirrored     every local GPU (or logical CPU device), gradients all-reduced
    multiworker  MultiWorkerMirroredStrategy across machines listed in TF_CONFIG
    tpu          a Colab/Cloud TPU (TPUClusterResolver)

The config's batch_size is per replica; the global batch is batch_size × replicas.
"""

import tensorflow as tf

from seqlib.errors import SeqlibError

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


def make_strategy(name="default"):
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [device.name for device in tf.config.list_logical_devices("GPU")] or [
            device.name for device in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.NotFoundError) as error:
            raise SeqlibError(f"--strategy tpu: no TPU found ({error})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise SeqlibError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
