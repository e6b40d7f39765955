import json
import os
from collections import Counter
from pathlib import Path, PurePath

import pytest

# Before seqlib.cli.tfimport (imported by tests.helpers), whose own default (3) is for users, not for the tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.helpers import run_main_here, run_seqlib  # noqa: E402

# ---- the slowest modules first, as measured --------------------------------------

# Seconds each test module took in a recorded run (`--record-durations`). pytest-xdist
# hands out the xdist_group groups first (the largest first), then single tests in
# collection order: with the long modules at the front, the quick ones fill the end of
# the run instead of one worker finishing a 100-second test while the other core idles.
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_addoption(parser):
    parser.addoption(
        "--record-durations",
        action="store_true",
        help=f"write the seconds each test module took (setup, call and teardown of its tests) to {DURATIONS.name}, "
        "which orders later runs slowest module first; run the whole suite, since modules that did not run keep "
        "their old figures and a module run in part gets a part's",
    )


def recorded_seconds():
    """{module file name: seconds} from durations.json; {} if there is none yet."""
    try:
        return json.loads(DURATIONS.read_text(encoding="utf-8"))["seconds"]
    except FileNotFoundError:
        return {}


def pytest_collection_modifyitems(config, items):
    # A module not recorded yet counts as quick (0 s): it runs at the end, in collection order.
    seconds = recorded_seconds()
    items.sort(key=lambda item: -seconds.get(item.path.name, 0.0))  # stable: a module keeps its order


class DurationRecorder:
    """Adds up each module's test reports: under pytest-xdist the controller sees every worker's."""

    def __init__(self):
        self.seconds = Counter()

    def pytest_runtest_logreport(self, report):
        self.seconds[PurePath(report.nodeid.split("::")[0]).name] += report.duration

    def pytest_sessionfinish(self, session):
        if not self.seconds:
            return
        kept = {module: total for module, total in recorded_seconds().items() if (DURATIONS.parent / module).exists()}
        seconds = kept | {module: round(total, 1) for module, total in self.seconds.items()}
        note = (
            "Seconds each test module took (its tests' setup, call and teardown; a session fixture's training "
            "counts for the first test that needs it), written by `python -m pytest --record-durations`; "
            "conftest.py runs the slowest modules first."
        )
        ordered = dict(sorted(seconds.items(), key=lambda entry: -entry[1]))
        DURATIONS.write_text(json.dumps({"note": note, "seconds": ordered}, indent=1) + "\n", encoding="utf-8")


def pytest_configure(config):
    # Only where every report arrives: the xdist controller, or the one process without xdist.
    if config.getoption("--record-durations") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(DurationRecorder(), "seqlib-record-durations")


# ---- runs trained once a session, which every test only reads ---------------------


def shared_folder(tmp_path_factory):
    """A folder all pytest-xdist workers of this session see (the session's own without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def fingerprint(run_dir):
    """{path under run_dir: [size, modification time in ns]} of each file and folder in it.

    Times rather than checksums: a test that writes a file again with the same bytes
    (an evaluation saved twice) has still written into the run, and stat()ing a few
    dozen files after every test costs nothing.
    """
    entries = {}
    for path in sorted([run_dir, *run_dir.rglob("*")]):
        status = path.stat()
        entries[path.relative_to(run_dir).as_posix()] = [status.st_size if path.is_file() else 0, status.st_mtime_ns]
    return entries


# Shared runs this process has used: {run_dir: its fingerprint right after training}.
SHARED_RUNS = {}


def shared_run(tmp_path_factory, name, train):
    """A run directory made once a test session, by the first pytest-xdist worker that
    needs it; the other workers wait for it on a lock and reuse it. Tests only read
    it: one that changes a run works on a copy (shutil.copytree), and
    shared_runs_stay_as_trained fails a test after which a shared run has changed."""
    import fcntl

    folder = shared_folder(tmp_path_factory)
    run_dir, trained = folder / name, folder / f"{name}.fingerprint.json"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not trained.exists():
            train(run_dir)
            trained.write_text(json.dumps(fingerprint(run_dir)))
    SHARED_RUNS.setdefault(run_dir, json.loads(trained.read_text()))
    return run_dir


@pytest.fixture(autouse=True)
def shared_runs_stay_as_trained():
    """Fails (at teardown) the test after which a shared run differs from what training left.

    chmod cannot guard them: the tests run as root here and on Colab, and root writes
    through permission bits; for other users a read-only run would make every
    shutil.copytree of it read-only too, and so break the tests that rightly change
    their copies.
    """
    yield
    for run_dir, trained in SHARED_RUNS.items():
        now = fingerprint(run_dir)
        if now != trained:
            changed = sorted(path for path in trained.keys() | now.keys() if trained.get(path) != now.get(path))
            changed = ["(a file added or removed)" if path == "." else path for path in changed]
            SHARED_RUNS[run_dir] = now  # reported once, not again by every test after this one
            pytest.fail(
                f"the shared run {run_dir.name} was changed during this test (or one running beside it on another "
                f"pytest-xdist worker): {', '.join(changed[:10])}. A test that writes into a run works on a copy "
                "(shutil.copytree).",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny model with WordPiece vocabularies, trained in-process for the whole test session (about 15 s)."""
    from seqlib.config import get_preset
    from seqlib.training.train import train

    config = get_preset("tiny").replace(epochs=2, tokenizer="wordpiece")
    return shared_run(tmp_path_factory, "tiny_run", lambda run_dir: train(config, run_dir, verbose=0))


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory):
    """A tiny model with word vocabularies, trained once a session by the command line, as a
    user would (1 epoch of 2,000 pairs); tiny_run is the WordPiece one."""

    def train_by_the_command_line(run_dir):
        done = run_seqlib(
            "train", "--config", "tiny", "--tokenizer", "word", "--out", run_dir, "--epochs", "1", "--max-pairs", "2000"
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]

    return shared_run(tmp_path_factory, "cli_run", train_by_the_command_line)


@pytest.fixture(scope="session")
def tiny_translator(tiny_run):
    from seqlib.decoding.loading import load_translator

    return load_translator(tiny_run)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, tiny_run):
    """tiny_run exported once a session as a standalone SavedModel (seqlib.decoding.export)."""
    from seqlib.decoding.export import export

    return shared_run(tmp_path_factory, "tiny_export", lambda out: export(tiny_run, out))


@pytest.fixture(scope="session")
def transformer_run(tmp_path_factory):
    """A tiny WordPiece transformer trained once a session through the command line's main (1 epoch of 1,500
    pairs; 2 attention heads instead of the preset's 4, by --set)."""

    def train_by_the_command_line(run_dir):
        done = run_main_here(
            "train",
            "--config",
            "tiny",
            "--arch",
            "transformer",
            "--tokenizer",
            "wordpiece",
            "--out",
            run_dir,
            "--epochs",
            "1",
            "--max-pairs",
            "1500",
            "--set",  # any setting of the preset or the family, from the command line
            "num_heads=2",
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]

    return shared_run(tmp_path_factory, "transformer_run", train_by_the_command_line)


@pytest.fixture(scope="session")
def transformer_translator(transformer_run):
    from seqlib.decoding.loading import load_translator

    return load_translator(transformer_run)
