"""MirroredStrategy on two logical CPU devices follows the one-device loss curve."""

import json
import subprocess
import sys

from conftest import ROOT

SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from seqlib.config import PRESETS
from seqlib.train import train
config = PRESETS["tiny"].replace(epochs=2, max_pairs=2000)
_, mirrored = train(config.replace(batch_size=16), sys.argv[1] + "/mirrored", verbose=0, strategy="mirrored")
_, single = train(config.replace(batch_size=32), sys.argv[1] + "/single", verbose=0)
replicas = mirrored.model.distribute_strategy.num_replicas_in_sync
print(json.dumps({"replicas": replicas, "mirrored": mirrored.history["loss"], "single": single.history["loss"]}))
"""


def test_mirrored_two_cpus_matches_one_device(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    # Same global batches (2 x 16 = 32); only the order of floating-point sums differs,
    # and each replica averages over its own tokens before the all-reduce.
    for mirrored, single in zip(result["mirrored"], result["single"]):
        assert abs(mirrored - single) / single < 0.03
