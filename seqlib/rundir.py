"""The run directory: its paths and small files (pure Python; the model and a translator
are loaded by seqlib.decoding.loading).

RUN_DIR/
  config.json          seqlib format version, TrainConfig, corpus ("bundled" or relative to RUN_DIR)
  source_vocab.txt     English tokens, one a line (ids from 2 on)
  target_vocab.txt     French tokens, [START] and [END] first
  test.tsv             the held-out test pairs (English<TAB>French)
  model.keras          the latest trained model (safe_mode loadable)
  checkpoints/         epoch-NNNN.weights.h5: weights and optimizer state
  logs/                TensorBoard event files
  train.lock           present while a training runs
"""

import json
import os
import re
from pathlib import Path

from seqlib.config import TrainConfig
from seqlib.errors import RunDirError
from seqlib.files import BUNDLED_CORPUS, write_atomically

# Format 3 keeps the model family's own settings under "model"; format 2 named the
# corpus relative to the run directory (or "bundled"); format 1 stored an absolute
# path. All three are read (TrainConfig.from_dict reads either config layout).
FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)
BUNDLED = "bundled"
_CHECKPOINT = re.compile(r"epoch-(\d{4})\.weights\.h5$")


class RunDir:
    """Paths and small files of one run directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.config_file = self.path / "config.json"
        self.source_vocab = self.path / "source_vocab.txt"
        self.target_vocab = self.path / "target_vocab.txt"
        self.test_pairs = self.path / "test.tsv"
        self.model_file = self.path / "model.keras"
        self.checkpoints = self.path / "checkpoints"
        self.logs = self.path / "logs"
        self.lock_file = self.path / "train.lock"
        self.evaluations = self.path / "evaluations"

    def save_config(self, config, data_path):
        """Writes config.json. The corpus is named so that the run can move: "bundled"
        for seqlib's own corpus (wherever this seqlib is installed), otherwise a path
        relative to the run directory."""
        write_atomically(
            self.config_file,
            json.dumps(
                {"format_version": FORMAT_VERSION, "data": self._portable_data_path(data_path), "config": config.to_dict()},
                indent=2,
            ),
        )

    def _portable_data_path(self, data_path):
        data_path = Path(data_path).resolve()
        if data_path == BUNDLED_CORPUS.resolve():
            return BUNDLED
        return Path(os.path.relpath(data_path, self.path.resolve())).as_posix()

    def load_config(self):
        """Returns (TrainConfig, data path or None); clear errors for missing or damaged runs.

        The data path is where the corpus is now: the bundled corpus, or the saved
        relative path joined to this run directory. None where config.json names no
        corpus, or an absolute path (format 1) that is not there any more.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: is a file, not a run directory")
        if not self.path.is_dir():
            raise RunDirError(
                f"{self.path}: no such run directory (train one with `python -m seqlib train --config tiny --out {self.path}`)"
            )
        if not self.config_file.is_file():
            raise RunDirError(f"{self.path}: not a seqlib run directory (no config.json)")
        try:
            saved = json.loads(self.config_file.read_text(encoding="utf-8"))
            version = saved.get("format_version")
            if version not in READABLE_FORMATS:
                raise RunDirError(
                    f"{self.config_file}: written by a seqlib with run format {version}, this seqlib reads "
                    f"format {FORMAT_VERSION}; retrain the run with this version"
                )
            return TrainConfig.from_dict(saved["config"]), self._data_path_now(saved.get("data"))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RunDirError(f"{self.config_file}: damaged config ({error}); retrain the run") from None

    def _data_path_now(self, saved):
        if saved is None:
            return None
        if saved == BUNDLED:
            return BUNDLED_CORPUS
        path = Path(saved)
        if path.is_absolute():
            # Format 1 stored absolute paths; the bundled corpus of another checkout or
            # machine is this seqlib's bundled corpus.
            if not path.is_file() and path.name == BUNDLED_CORPUS.name and path.parent.name in ("data", "corpus"):
                return BUNDLED_CORPUS
            return path
        return self.path / path

    def check_trained(self):
        """Returns the run's TrainConfig, once the files serving needs are there.

        Pure Python, so the command line reports a missing or incomplete run
        before it spends seconds importing TensorFlow.
        """
        config, _ = self.load_config()
        self.require(self.model_file, self.source_vocab, self.target_vocab)
        return config

    def require(self, *paths):
        for path in paths:
            if not path.exists():
                raise RunDirError(f"{self.path}: missing {path.name}; the run is incomplete, retrain it")

    def latest_checkpoint(self):
        """Returns (epochs completed, path) of the newest checkpoint, or (0, None)."""
        found = []
        if self.checkpoints.is_dir():
            for path in self.checkpoints.iterdir():
                match = _CHECKPOINT.match(path.name)
                if match:
                    found.append((int(match.group(1)), path))
        return max(found) if found else (0, None)

    def checkpoint_path(self, epoch):
        return self.checkpoints / f"epoch-{epoch:04d}.weights.h5"
