"""Bad run directories, interrupted and concurrent training: clear answers, nothing lost.

Trainings that are killed run as `python -m seqlib` processes; what comes after (the
rerun, the refusal, the error) runs through the same command line in this process
(run_main_here), which spares a TensorFlow import each."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import pytest
import tensorflow as tf

from seqlib.errors import SeqlibError
from seqlib.files import is_temporary, temporary_path, write_atomically
from seqlib.rundir import RunDir
from tests.helpers import ROOT, one_line_error, run_main_here, run_seqlib

TRAIN = ["train", "--config", "tiny", "--max-pairs", "1500"]
# Resuming a copy of the session's finished run: its own settings apply, so none is given.
RESUME = ["train", "--config", "tiny"]


def start_training(run_dir, epochs):
    return subprocess.Popen(
        [sys.executable, "-m", "seqlib", *TRAIN, "--out", str(run_dir), "--epochs", str(epochs)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(predicate, timeout=180, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def partial_files(run_dir):
    folders = [folder for folder in (run_dir, run_dir / "checkpoints") if folder.is_dir()]
    return [path for folder in folders for path in folder.iterdir() if is_temporary(path)]


def checkpoints(run_dir):
    folder = run_dir / "checkpoints"
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


# Killed in the second epoch, with one epoch to resume from. A kill before anything is
# saved is the busy-run test's; a kill inside a checkpoint's write is the one after it.
def test_kill_9_in_the_second_epoch_then_rerun_resumes_and_finishes(tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, epochs=2)
    assert wait_for(lambda: "epoch-0001.weights.h5" in checkpoints(run_dir))
    time.sleep(0.4)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Whatever the moment of the kill, a checkpoint under its final name is complete.
    completed, checkpoint = RunDir(run_dir).latest_checkpoint()
    h5py.File(checkpoint, "r").close()
    done = run_main_here(*TRAIN, "--out", run_dir, "--epochs", "2")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert f"resuming from epoch {completed}".encode() in done.stderr
    assert "epoch-0002.weights.h5" in checkpoints(run_dir)
    assert not (run_dir / "train.lock").exists()
    # The finished run serves (in this process: the command line's translate is tested elsewhere).
    from seqlib.decoding.loading import load_translator

    translator = load_translator(run_dir)  # held: its tf.functions keep only a weak reference to it
    assert translator.translate(tf.constant(["Go."]))["translation"].shape == (1,)


def test_second_training_on_a_busy_run_is_refused_until_the_first_is_killed(tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, epochs=30)
    try:
        assert wait_for(lambda: (run_dir / "train.lock").exists())
        done = run_main_here(*TRAIN, "--out", run_dir, "--epochs", "2")
        assert done.returncode == 2, done.stderr.decode()[-2000:]
        assert f"in use by another training (process {process.pid})" in one_line_error(done)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    # kill -9 ran no clean-up, so train.lock is still there; the OS lock went with the process.
    assert (run_dir / "train.lock").exists()
    # Killed early, most often before its first checkpoint: the rerun starts afresh, or resumes
    # from a complete checkpoint if one was written.
    completed, checkpoint = RunDir(run_dir).latest_checkpoint()
    if checkpoint is not None:
        h5py.File(checkpoint, "r").close()
    done = run_main_here(*TRAIN, "--out", run_dir, "--epochs", completed + 1)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    if completed:
        assert f"resuming from epoch {completed}".encode() in done.stderr
    else:
        assert b"resuming" not in done.stderr
    assert f"epoch-{completed + 1:04d}.weights.h5" in checkpoints(run_dir)
    assert not (run_dir / "train.lock").exists()


def test_the_lock_is_the_os_lock_not_the_file(tmp_path):
    from seqlib.training.lock import training_lock

    run = RunDir(tmp_path)
    # A lock file naming a live process (this one) but locked by nobody does not block.
    run.lock_file.write_text(str(os.getpid()))
    with training_lock(run):
        assert run.lock_file.read_text() == str(os.getpid())
        # A second holder is refused while the first holds it, even in the same process.
        with pytest.raises(SeqlibError, match="in use by another training"):
            with training_lock(run):
                pass
    assert not run.lock_file.exists()
    with training_lock(run):
        pass


def test_kill_9_while_a_checkpoint_is_written_leaves_no_partial_file(tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, epochs=30)
    try:
        # Each epoch writes partial-model.keras and partial-epoch-N.weights.h5, then
        # renames them; catch the second epoch's window, so there is something to resume.
        assert wait_for(lambda: "epoch-0001.weights.h5" in checkpoints(run_dir))
        wait_for(lambda: bool(partial_files(run_dir)), timeout=120, interval=0.001)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    completed, checkpoint = RunDir(run_dir).latest_checkpoint()
    assert completed >= 1
    # Whether or not the kill fell inside a write, leave what such a kill leaves: a
    # half-written newer checkpoint and model, and a small file of the atomic writer,
    # under their temporary names (and one under the name older seqlibs gave them).
    whole = checkpoint.read_bytes()
    temporary_path(RunDir(run_dir).checkpoint_path(completed + 2)).write_bytes(whole[: len(whole) // 2])
    temporary_path(run_dir / "model.keras").write_bytes(b"PK\x03\x04 cut short")
    temporary_path(run_dir / "config.json").write_text('{"format_version": 2, "da')
    (run_dir / "config.json.tmp").write_text('{"format_version": 2, "da')
    done = run_main_here(*TRAIN, "--out", run_dir, "--epochs", completed + 1)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert f"resuming from epoch {completed}".encode() in done.stderr
    assert checkpoints(run_dir) == [f"epoch-{completed + 1:04d}.weights.h5"]
    assert partial_files(run_dir) == []


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage",
    [
        lambda checkpoint: truncate(checkpoint),
        lambda checkpoint: checkpoint.write_bytes(b"not an HDF5 file"),
        # A valid HDF5 file that holds another model's weights.
        lambda checkpoint: h5py.File(checkpoint, "w").create_dataset("layers/dense/vars/0", data=[1.0, 2.0]).file.close(),
    ],
    ids=["truncated", "garbage", "foreign"],
)
def test_damaged_checkpoint_stops_a_resume_with_a_clear_message(finished_run, tmp_path, damage):
    run_dir = damaged_copy(finished_run, tmp_path, lambda d: damage(d / "checkpoints" / "epoch-0001.weights.h5"))
    done = run_main_here(*RESUME, "--out", run_dir, "--epochs", "2")
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    message = one_line_error(done)
    assert "epoch-0001.weights.h5: cannot resume from this checkpoint" in message and "delete it" in message
    assert not (run_dir / "train.lock").exists()


def test_damaged_model_of_a_finished_run_is_a_clear_message(finished_run, tmp_path):
    run_dir = damaged_copy(finished_run, tmp_path, lambda d: (d / "model.keras").write_bytes(b"garbage"))
    done = run_main_here(*RESUME, "--out", run_dir, "--epochs", "1")
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    assert "model.keras: cannot load the model" in one_line_error(done)


def test_too_little_disk_space_is_refused_before_training(tmp_path, monkeypatch):
    from seqlib.config import get_preset
    from seqlib.training.train import train

    disk_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: disk_usage(path)._replace(free=5 * 2**20))
    with pytest.raises(SeqlibError, match=r"only 5 MiB free, and saving an epoch's checkpoint and model needs about \d+ MiB"):
        train(get_preset("tiny").replace(epochs=1, max_pairs=500), tmp_path / "run", verbose=0)
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not (tmp_path / "run" / "train.lock").exists()


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "scores.json"
    write_atomically(path, "old")
    # A lone surrogate has no UTF-8 form: the write fails once the temporary exists.
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "new \ud800")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_vocabulary_is_written_atomically(tmp_path):
    from seqlib.data.vocabulary import load_vocabulary, save_vocabulary

    class Unwritable(str):
        def __add__(self, other):
            raise RuntimeError("killed mid-write")

    path = tmp_path / "vocab.txt"
    save_vocabulary(["un", "deux"], path)
    with pytest.raises(RuntimeError):
        save_vocabulary(["trois", Unwritable("quatre")], path)
    # The failed write left the previous file whole.
    assert load_vocabulary(path) == ["un", "deux"]


def test_unwritable_run_directory_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run_main_here(*TRAIN, "--out", blocker / "run")
    assert done.returncode == 2
    assert "cannot write the run directory" in one_line_error(done)


@pytest.fixture
def finished_run(cli_run):
    """A finished one-epoch tiny run (the session's, trained by the command line); tests damage copies of it."""
    return cli_run


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
    done = run_main_here("translate", "--model", run_dir, "Go.")
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    assert message.decode() in one_line_error(done)


def test_odd_text_is_translated_as_valid_utf8(finished_run):
    lines = ["Hello 😀!", "ctrl\x07char", "tab\tinside", "Привет мир", "東京", "x" * 15000, "", "   "]
    done = run_seqlib("translate", "--model", finished_run, input="\n".join(lines).encode() + b"\n")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode("utf-8").split("\n")
    assert len(out) == len(lines) + 1
    assert out[6] == "" and out[7] == ""
    assert b"line 6: 15000 characters, translating only the first 2000" in done.stderr


@pytest.mark.parametrize("owner", ["999999", ""])
def test_lock_file_left_by_a_killed_training_does_not_block(finished_run, tmp_path, owner):
    run_dir = damaged_copy(finished_run, tmp_path, lambda d: (d / "train.lock").write_text(owner))
    # The lock is taken before anything else, so a finished run's "nothing to do" shows
    # it was not blocked, without another epoch of training (resuming past a kill -9's
    # lock file, which names a dead process, is tested by the kill tests above).
    done = run_main_here(*RESUME, "--out", run_dir, "--epochs", "1")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"already holds 1 of 1 epochs; nothing to do" in done.stderr
    assert not os.path.exists(run_dir / "train.lock")


def test_first_line_of_an_underlying_error():
    from seqlib.errors import first_line

    assert first_line(OSError("Unable to open file\n  details\n")) == "Unable to open file"
    assert first_line(ValueError("2 objects could not be loaded, for example:\n\nLayer x expected 1\n\nList")) == (
        "2 objects could not be loaded, for example: Layer x expected 1"
    )
    assert first_line(EOFError()) == "EOFError"
