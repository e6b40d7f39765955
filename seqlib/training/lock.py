"""Claiming a run directory for one training: proving it writable, and locking it."""

import contextlib
import fcntl
import os

from seqlib.errors import SeqlibError
from seqlib.rundir import RunDir


def prepare_run_directory(path):
    """Creates the run directory and proves it is writable before any work starts."""
    run = RunDir(path)
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        probe = run.path / ".write-test"
        probe.write_bytes(b"\0" * 1024 * 1024)
        probe.unlink()
    except OSError as error:
        raise SeqlibError(f"{run.path}: cannot write the run directory ({error.strerror})") from None
    return run


@contextlib.contextmanager
def training_lock(run):
    """Refuses a second training on a run directory that one is already using.

    The lock is an OS lock (`flock`) on RUN_DIR/train.lock, held for the whole
    training. The kernel drops it when the process ends, kill -9 included, so a
    lock is never stale, and taking it is one step, so two starts cannot both win.
    The process id written into the file only serves the message.
    """
    for _ in range(10):
        descriptor = os.open(run.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(descriptor, 32).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise SeqlibError(
                f"{run.path} is in use by another training (process {owner}); wait for it to finish or use another --out"
            ) from None
        # A training that just finished removes the file; if that happened between
        # our open and our lock, we hold a file nobody else can see: take a fresh one.
        try:
            if os.path.samestat(os.fstat(descriptor), os.stat(run.lock_file)):
                break
        except FileNotFoundError:
            pass
        os.close(descriptor)
    else:
        raise SeqlibError(f"cannot take the lock {run.lock_file}; is another training starting and stopping there?")
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        yield
    finally:
        # Removed while still locked, so no other process can lock this file after us.
        run.lock_file.unlink(missing_ok=True)
        os.close(descriptor)
