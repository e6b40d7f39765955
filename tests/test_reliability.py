"""Bad run directories, interrupted and concurrent training: clear answers, nothing lost."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import pytest
from conftest import ROOT, run_seqlib

from seqlib.rundir import RunDir

TRAIN = ["train", "--config", "tiny", "--max-pairs", "1500"]


def start_training(run_dir, epochs):
    return subprocess.Popen(
        [sys.executable, "-m", "seqlib", *TRAIN, "--out", str(run_dir), "--epochs", str(epochs)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(predicate, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def checkpoints(run_dir):
    folder = run_dir / "checkpoints"
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("kill_after", ["start", "first checkpoint", "during the second epoch"])
def test_kill_9_then_rerun_resumes_and_finishes(tmp_path, kill_after):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, epochs=3)
    if kill_after == "start":
        assert wait_for(lambda: (run_dir / "train.lock").exists())
        time.sleep(1.0)
    else:
        assert wait_for(lambda: "epoch-0001.weights.h5" in checkpoints(run_dir))
        if kill_after == "during the second epoch":
            time.sleep(0.4)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Whatever the moment of the kill, a checkpoint under its final name is complete.
    completed, checkpoint = RunDir(run_dir).latest_checkpoint()
    if checkpoint is not None:
        h5py.File(checkpoint, "r").close()
    done = run_seqlib(*TRAIN, "--out", run_dir, "--epochs", "3")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    if completed:
        assert f"resuming from epoch {completed}".encode() in done.stderr
    else:
        assert b"resuming" not in done.stderr
    assert "epoch-0003.weights.h5" in checkpoints(run_dir)
    assert not (run_dir / "train.lock").exists()
    translated = run_seqlib("translate", "--model", run_dir, "Go.")
    assert translated.returncode == 0


def test_second_training_on_a_busy_run_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, epochs=30)
    try:
        assert wait_for(lambda: (run_dir / "train.lock").exists())
        done = run_seqlib(*TRAIN, "--out", run_dir, "--epochs", "2")
        assert done.returncode == 2
        assert b"in use by another training" in done.stderr
    finally:
        process.kill()
        process.wait()


def test_unwritable_run_directory_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run_seqlib(*TRAIN, "--out", blocker / "run")
    assert done.returncode == 2
    assert b"cannot write the run directory" in done.stderr and b"Traceback" not in done.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    done = run_seqlib(*TRAIN, "--out", run_dir, "--epochs", "1")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return run_dir


def damaged_copy(finished_run, tmp_path, damage):
    run_dir = tmp_path / "damaged"
    shutil.copytree(finished_run, run_dir)
    damage(run_dir)
    return run_dir


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: [p.unlink() if p.is_file() else shutil.rmtree(p) for p in d.iterdir()], b"not a seqlib run directory"),
        (lambda d: (d / "config.json").write_text("{ not json"), b"damaged config"),
        (lambda d: (d / "target_vocab.txt").unlink(), b"missing target_vocab.txt"),
        (lambda d: (d / "model.keras").unlink(), b"missing model.keras"),
        (
            lambda d: (d / "target_vocab.txt").write_text("\n".join(["x"] * 10) + "\n"),
            b"do not match the model",
        ),
        (
            lambda d: (d / "config.json").write_text(
                json.dumps({**json.loads((d / "config.json").read_text()), "format_version": 0})
            ),
            b"run format 0",
        ),
        (lambda d: (d / "model.keras").write_bytes(b"garbage"), b"cannot load the model"),
        (
            lambda d: (d / "config.json").write_text((d / "config.json").read_text().replace('"units": 128', '"units": 96')),
            b"says units=96 but the model has 128",
        ),
    ],
)
def test_damaged_run_directories_get_a_clear_message(finished_run, tmp_path, damage, message):
    run_dir = damaged_copy(finished_run, tmp_path, damage)
    done = run_seqlib("translate", "--model", run_dir, "Go.")
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    assert message in done.stderr
    assert b"Traceback" not in done.stderr


def test_odd_text_is_translated_as_valid_utf8(finished_run):
    lines = ["Hello 😀!", "ctrl\x07char", "tab\tinside", "Привет мир", "東京", "x" * 15000, "", "   "]
    done = run_seqlib("translate", "--model", finished_run, input="\n".join(lines).encode() + b"\n")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode("utf-8").split("\n")
    assert len(out) == len(lines) + 1
    assert out[6] == "" and out[7] == ""
    assert b"characters; translating only its beginning" in done.stderr


@pytest.mark.parametrize("owner", ["999999", ""])
def test_lock_left_by_a_killed_training_is_stale(finished_run, tmp_path, owner):
    run_dir = damaged_copy(finished_run, tmp_path, lambda d: (d / "train.lock").write_text(owner))
    done = run_seqlib(*TRAIN, "--out", run_dir, "--epochs", "2")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"resuming from epoch 1" in done.stderr
    assert os.path.exists(run_dir / "checkpoints" / "epoch-0002.weights.h5")
