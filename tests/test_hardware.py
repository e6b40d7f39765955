"""seqlib's choice of TensorFlow's CPU kernels: oneDNN on x86 CPUs with AVX2 (faster
on AVX2-only CPUs, TensorFlow's default on AVX-512 ones), and the same numbers both ways."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from seqlib.hardware import CHOSEN_BY_SEQLIB, choose_onednn, cpu_description
from tests.helpers import ROOT

AVX2_ONLY = {"model": "AMD EPYC", "cores": 2, "avx2": True, "avx512": False, "avx512_bf16": False, "amx": False}


def test_the_cpu_is_described():
    cpu = cpu_description()
    assert cpu["model"] and cpu["cores"] >= 1
    assert all(isinstance(cpu[flag], bool) for flag in ("avx2", "avx512", "avx512_bf16", "avx512_fp16", "amx"))


def test_onednn_is_chosen_on_avx2_unless_the_user_chose(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as before TensorFlow loads
    environ = {}
    assert choose_onednn(AVX2_ONLY, environ) == "1" and environ == {"TF_ENABLE_ONEDNN_OPTS": "1", CHOSEN_BY_SEQLIB: "1"}
    environ = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert choose_onednn(AVX2_ONLY, environ) == "0" and environ == {"TF_ENABLE_ONEDNN_OPTS": "0"}
    environ = {}
    assert choose_onednn(AVX2_ONLY | {"avx2": False}, environ) is None and environ == {}


def test_too_late_once_tensorflow_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    environ = {}
    assert choose_onednn(AVX2_ONLY, environ) is None and environ == {}


# Three training steps of the tiny model from a fixed seed, then its logits on one batch.
SCRIPT = """
import json
import numpy as np
import keras
import seqlib
from seqlib.config import get_preset
from seqlib.models.gru import build_training_model, compile_model
keras.utils.set_random_seed(7)
config = get_preset("tiny")
model = compile_model(build_training_model(config, 300, 400), config)
rng = np.random.default_rng(7)
context = rng.integers(1, 300, (16, 9)).astype("int32")
target = rng.integers(1, 400, (16, 11)).astype("int32")
losses = [float(model.train_on_batch((context, target[:, :-1]), target[:, 1:], return_dict=True)["loss"]) for _ in range(3)]
logits = model((context, target[:, :-1])).numpy()
print(json.dumps({"losses": losses, "logits": logits[:4, :5, :50].tolist()}))
"""


def run_with_onednn(value):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=value)
    return subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.skipif(not cpu_description()["avx2"], reason="the choice is made on x86 CPUs with AVX2 only")
def test_onednn_on_and_off_train_to_the_same_numbers():
    results = {}
    for value, process in [(value, run_with_onednn(value)) for value in ("0", "1")]:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()[-3000:]
        results[value] = json.loads(stdout.decode().strip().splitlines()[-1])
    # Only the order of floating-point sums differs between the kernels.
    np.testing.assert_allclose(results["0"]["losses"], results["1"]["losses"], rtol=1e-4)
    np.testing.assert_allclose(results["0"]["logits"], results["1"]["logits"], rtol=1e-3, atol=1e-4)
