"""Training under tf.distribute: MirroredStrategy on two logical CPU devices, and
MultiWorkerMirroredStrategy with two worker processes on the loopback address, each
follow the one-device loss curve at the same global batch (2 x 64 = 128)."""

import json
import os
import re
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.xdist_group("distribute")

# Epochs of 10 steps from a repeated, shuffled stream: every run below reads the
# same global batches (no last, smaller batch that only distributed runs drop). Word
# tokens: the resumed worker's second epoch reads a fresh shuffle, and the tolerances
# below were set on word-level losses; the tokens do not touch tf.distribute.
TINY_CHANGES = "dict(max_pairs=2000, steps_per_epoch=10, tokenizer='word')"
CONFIG = f'get_preset("tiny").replace(**{TINY_CHANGES})'

SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from seqlib.config import get_preset
from seqlib.training.train import train
config = CONFIG.replace(epochs=2)
_, mirrored = train(config, sys.argv[1] + "/mirrored", verbose=0, strategy="mirrored")  # 64 a replica
_, single = train(config.replace(batch_size=128), sys.argv[1] + "/single", verbose=0)
replicas = mirrored.model.distribute_strategy.num_replicas_in_sync
print(json.dumps({"replicas": replicas, "mirrored": mirrored.history["loss"], "single": single.history["loss"]}))
""".replace("CONFIG", CONFIG)


@pytest.fixture(scope="module")
def one_machine(tmp_path_factory):
    """Loss per epoch of the mirrored run and of one device at the same global batch."""
    folder = tmp_path_factory.mktemp("distribute")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mirrored_two_cpus_matches_one_device(one_machine):
    assert one_machine["replicas"] == 2
    # Same global batches; only the order of floating-point sums differs, and each
    # replica averages over its own tokens before the all-reduce.
    for mirrored, single in zip(one_machine["mirrored"], one_machine["single"], strict=True):
        assert abs(mirrored - single) / single < 0.03


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


# `python -m seqlib train --config tiny --max-pairs 2000 --strategy multiworker --epochs N
# --out RUN_DIR`, through the command line's own main(), with the tiny preset given the
# 10-step epochs above; TF_CONFIG names the cluster and this worker, as in the README.
WORKER = """
import sys
from seqlib import config
config.TRAINING_PRESETS["tiny"] = config.TRAINING_PRESETS["tiny"] | TINY_CHANGES
from seqlib.cli.main import main
sys.exit(main(["train", "--config", "tiny", "--strategy", "multiworker", "--out", sys.argv[1], "--epochs", sys.argv[2]]))
""".replace("TINY_CHANGES", TINY_CHANGES)


def start_workers(run_dirs, ports, epochs):
    """One training process a worker, on this machine's loopback address."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index, run_dir in enumerate(run_dirs):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        command = [sys.executable, "-c", WORKER, str(run_dir), str(epochs)]
        workers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    for worker in workers:
        try:
            stdout, stderr = worker.communicate(timeout=420)
        except subprocess.TimeoutExpired:
            for each in workers:
                each.kill()
            raise
        results.append((worker.returncode, stderr.decode() + stdout.decode()))
    return results


def epoch_losses(stderr):
    """The training loss of each epoch, from Keras's one line an epoch (verbose=2)."""
    return [float(loss) for loss in re.findall(r"step - loss: ([0-9.]+)", stderr)]


def weights(checkpoint):
    found = {}
    with h5py.File(checkpoint, "r") as file:
        file.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def test_two_workers_train_checkpoint_and_resume_like_one_device(one_machine, tmp_path):
    run_dirs = [tmp_path / "worker0", tmp_path / "worker1"]
    ports = free_ports(2)
    first = start_workers(run_dirs, ports, epochs=1)
    for status, output in first:
        assert status == 0, output[-3000:]
    # Resumed from their epoch-1 checkpoints, as after an interruption.
    second = start_workers(run_dirs, ports, epochs=2)
    for status, output in second:
        assert status == 0, output[-3000:]
        assert "resuming from epoch 1" in output
    # The all-reduce keeps the workers' weights identical.
    ours, theirs = (weights(run_dir / "checkpoints" / "epoch-0002.weights.h5") for run_dir in run_dirs)
    assert ours.keys() == theirs.keys() and len(ours) > 10
    for name, value in ours.items():
        np.testing.assert_allclose(value, theirs[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # Each worker reads its own shard of every global batch; the loss follows one device's.
    losses = epoch_losses(first[0][1]) + epoch_losses(second[0][1])
    assert len(losses) == 2, first[0][1][-2000:]
    for multiworker, single in zip(losses, one_machine["single"], strict=True):
        assert abs(multiworker - single) / single < 0.05, (losses, one_machine["single"])
