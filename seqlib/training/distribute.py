"""Choosing the tf.distribute strategy that training runs under.

    default      one device (the GPU if there is one, else the CPU)
    mirrored     every local GPU (or logical CPU device), gradients all-reduced
    multiworker  MultiWorkerMirroredStrategy across machines listed in TF_CONFIG
    tpu          a Colab/Cloud TPU (TPUClusterResolver)

The config's batch_size is per replica; the global batch is batch_size × replicas.
"""

import contextlib

import keras
import tensorflow as tf

from seqlib.config import STRATEGIES
from seqlib.errors import SeqlibError


def make_strategy(name="default"):
    """The tf.distribute.Strategy named `name`, one of STRATEGIES (described above)."""
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


@contextlib.contextmanager
def fit_scope(model, strategy, dataset):
    """The context `model.fit` runs in under `strategy`.

    Keras 3 (3.10 to 3.15 at least) cannot fit under MultiWorkerMirroredStrategy
    (tensorflow/tensorflow#72388): fit() first averages a whole input batch
    across replicas with `strategy.reduce`, which fails on a nest of batches
    ("Attempt to convert a value (PerReplica: ...)"), and every step averages
    the scalar logs "along axis 0", which fails on a scalar ("Invalid reduction
    dimension 0 for input with 0 dimensions"). For that strategy only:
    the model, loss and metrics are built here from one undistributed batch (the
    optimizer already is, by compile_model); the model forgets the strategy it was made under, so fit() finds it
    in the scope it runs in instead and skips its own build; and the step's logs
    are averaged across workers as scalars.

    Args:
        model: a compiled keras.Model created under `strategy.scope()`.
        dataset: the training tf.data.Dataset of ((context (batch, s), target_in (batch, t)),
            target_out (batch, t)); one batch of it builds the model.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    from keras.src.backend.tensorflow import trainer as keras_trainer

    if not (hasattr(keras_trainer, "reduce_per_replica") and hasattr(model, "_symbolic_build")):
        raise SeqlibError(
            f"--strategy multiworker: this Keras ({keras.__version__}) is not one seqlib's work-around "
            "for Keras's multi-worker fit knows (written against 3.10 and 3.15)"
        )
    with strategy.scope():
        model._symbolic_build(data_batch=next(iter(dataset)))
    model._distribute_strategy = None
    keras_reduce = keras_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction not in ("auto", "mean"):
            return keras_reduce(values, strategy, reduction)

        def mean(value):
            if isinstance(value, tf.distribute.DistributedValues):
                return strategy.reduce("MEAN", value, axis=None)
            return value  # the same on every replica already

        return tf.nest.map_structure(mean, values)

    keras_trainer.reduce_per_replica = reduce_per_replica
    try:
        with strategy.scope():
            yield
    finally:
        keras_trainer.reduce_per_replica = keras_reduce
