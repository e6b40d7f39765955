"""Where a training starts: from nothing, or from what its run directory already holds.

A run directory with a checkpoint is resumed with its own settings and corpus; only
the number of epochs comes from the caller, so a finished run can be extended.
"""

from dataclasses import dataclass
from pathlib import Path

from seqlib.config import TrainConfig
from seqlib.errors import SeqlibError
from seqlib.files import BUNDLED_CORPUS
from seqlib.training.notes import say


@dataclass(frozen=True)
class RunStart:
    """The settings a training runs with, and the epoch it starts from.

    Attributes:
        config: the caller's TrainConfig for a new run; the run's own, with the
            caller's `epochs`, for a resumed one.
        data_path: the corpus file the run trains on.
        completed: epochs already trained (0 for a new run).
        checkpoint: the checkpoint to resume from, or None for a new run.
    """

    config: TrainConfig
    data_path: Path
    completed: int = 0
    checkpoint: Path | None = None

    @property
    def resuming(self):
        return self.checkpoint is not None

    @property
    def finished(self):
        """Whether a resumed run already holds every epoch asked for."""
        return self.resuming and self.completed >= self.config.epochs


# What a resumed run may do differently when asked: how it computes, not what it learns
# (the weights are float32 in every precision).
CHANGEABLE_ON_RESUME = ("precision",)


def where_to_start(run, config, data_path, explicit):
    """Reads what `run` holds and decides the run's settings, saying what it overrides.

    Args:
        run: the RunDir, locked by this training.
        config: the TrainConfig asked for.
        data_path: the corpus asked for, or None for the bundled one (or, on resume,
            the run's own).
        explicit: names of config fields the user set; a note names those the
            resumed run's own values override.

    Returns:
        RunStart.
    """
    completed, checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        return RunStart(config, Path(data_path) if data_path is not None else BUNDLED_CORPUS)
    saved_config, saved_data = run.load_config()
    data_path = resumed_data_path(run, saved_data, data_path)
    changed = {key: getattr(config, key) for key in CHANGEABLE_ON_RESUME if key in explicit}
    ignored = ignored_settings(config, saved_config, set(explicit) - set(changed))
    if ignored:
        say(f"note: resuming with {run.path}'s own settings; ignoring {', '.join(ignored)}")
    return RunStart(saved_config.replace(epochs=config.epochs, **changed), data_path, completed, checkpoint)


def resumed_data_path(run, saved_data, data_path):
    """The corpus a resumed run trains on: its own where it is still there, else the one given."""
    if saved_data is None or not Path(saved_data).is_file():
        if data_path is None:
            raise SeqlibError(
                f"{run.path} was trained on {saved_data or 'a file it does not name'}, which is not there now; "
                "pass --data FILE with the same corpus to continue"
            )
        return Path(data_path)
    if data_path is not None and Path(data_path).resolve() != Path(saved_data).resolve():
        say(f"note: {run.path} was trained on {saved_data}; continuing with that file, not {data_path}")
    return Path(saved_data)


def ignored_settings(requested, saved, explicit):
    """What the user asked for that a resumed run overrides: the preset, and the
    fields named in `explicit` whose value differs from the run's."""
    ignored = [f"--config {requested.name} (run: {saved.name})"] if requested.name != saved.name else []
    wanted, kept = requested.settings(), saved.settings()
    return ignored + [f"{key}={wanted[key]} (run: {kept.get(key)})" for key in explicit if wanted[key] != kept.get(key)]
