"""Training: from a corpus file to a run directory, resumable at every epoch.

train() claims the run directory, then takes a run through its steps, each a
function here or in a module beside this one: where it starts (resume.py), its
vocabularies, its datasets (datasets.py), its model under the precision policy and
the distribution strategy, and its callbacks (callbacks.py).
"""

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from seqlib.config import SCHEDULES, TrainConfig, check_training_limits
from seqlib.data import corpus, tokenizers, vocabulary
from seqlib.decoding.loading import load_training_model
from seqlib.errors import SeqlibError
from seqlib.files import remove_temporaries
from seqlib.hardware import cpu_description
from seqlib.models.gru import compile_model
from seqlib.models.metrics import TargetTokens
from seqlib.models.registry import build_training_model
from seqlib.precision import AUTO, choose_precision, computing_in, emulated_on_cpu, gpu_capabilities
from seqlib.training.callbacks import monitor_for, training_callbacks
from seqlib.training.checkpoints import check_free_space, load_checkpoint
from seqlib.training.datasets import training_data
from seqlib.training.distribute import fit_scope, make_strategy
from seqlib.training.lock import prepare_run_directory, training_lock
from seqlib.training.notes import say
from seqlib.training.resume import where_to_start


@dataclass(frozen=True)
class TrainingRequest:
    """What a caller of train() asks for, checked; see train() for each field."""

    config: TrainConfig
    data_path: Path | None
    time_budget: float | None
    schedule: str
    strategy: tf.distribute.Strategy
    verbose: str | int
    extra_callbacks: tuple
    explicit: tuple


def load_splits(config, data_path):
    """Reads the corpus and splits it as the run `config` describes (corpus.Splits)."""
    pairs = corpus.read_pairs(data_path, max_pairs=config.max_pairs)
    return corpus.split_pairs(pairs, config.validation_fraction, config.test_fraction, config.seed)


def train(
    config,
    out,
    data_path=None,
    time_budget=None,
    verbose="auto",
    extra_callbacks=(),
    strategy="default",
    explicit=(),
    schedule="budget",
):
    """Trains `config` into run directory `out`, resuming if it holds a checkpoint.

    Args:
        config: TrainConfig. On resume the saved config is used; its `epochs`
            is replaced by this one's, so a finished run can be extended.
        out: run directory path.
        data_path: corpus file; defaults to the bundled data/fra.txt.gz.
        time_budget: seconds; stop at the step that crosses it.
        schedule: with a time budget, "budget" warms the learning rate up and decays
            it to 1% of config.learning_rate as the budget runs out (BudgetSchedule);
            "constant" keeps config.learning_rate. Without a budget it is constant.
        strategy: a name from seqlib.config.STRATEGIES; the global batch is
            config.batch_size times the number of replicas.
        explicit: names of config fields the user set (e.g. `max_pairs` from
            --max-pairs); on resume, a note names those the run's own values override.

    Returns:
        (keras.Model, keras History).
    """
    check_training_limits(config.epochs, time_budget)
    if schedule not in SCHEDULES:
        raise SeqlibError(f"unknown learning-rate schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
    request = TrainingRequest(
        config=config,
        data_path=data_path,
        time_budget=time_budget,
        schedule=schedule,
        strategy=make_strategy(strategy),
        verbose=verbose,
        extra_callbacks=tuple(extra_callbacks),
        explicit=tuple(explicit),
    )
    created = not Path(out).exists()
    try:
        run = prepare_run_directory(out)
        with training_lock(run):
            return train_locked(run, request)
    except BaseException:
        # A run that failed before writing anything (a bad corpus, say) leaves no
        # empty directory behind; anything written stays, to resume from.
        path = Path(out)
        if created and path.is_dir() and not any(path.iterdir()):
            with contextlib.suppress(OSError):  # never hide the error that got us here
                path.rmdir()
        raise


def train_locked(run, request):
    """Trains `request` into `run`, a RunDir this process holds the training lock of.

    Returns:
        (keras.Model, keras History, or None where the run already held every epoch).
    """
    # Nothing else writes here while we hold the lock: a temporary is a killed writer's.
    remove_temporaries(run.path, run.checkpoints)
    start = where_to_start(run, request.config, request.data_path, request.explicit)
    if start.finished:
        _, _, model = load_training_model(run.path)
        say(f"{run.path} already holds {start.completed} of {start.config.epochs} epochs; nothing to do")
        return model, None
    config = start.config
    keras.utils.set_random_seed(config.seed)
    splits = load_splits(config, start.data_path)
    source_tokens, target_tokens = run_vocabularies(run, config, splits, start.resuming)
    # Saved relative to the run directory (or as "bundled"), so a copied run resumes.
    run.save_config(config, start.data_path)
    data = training_data(config, splits, source_tokens, target_tokens, request.strategy.num_replicas_in_sync, start.completed)
    model = build_model(config, len(source_tokens) + 2, len(target_tokens) + 2, request.strategy, start.checkpoint)
    if start.resuming:
        # Said only now, once the checkpoint has loaded: a damaged one is an error instead.
        say(f"resuming from epoch {start.completed}")
    check_free_space(run, model)
    monitor = monitor_for(model, config, splits.validation, source_tokens, target_tokens, run)
    callbacks = training_callbacks(run, monitor, config, request.time_budget, request.schedule, request.extra_callbacks)
    with fit_scope(model, request.strategy, data.train):
        history = model.fit(
            data.train,
            epochs=config.epochs,
            initial_epoch=start.completed,
            steps_per_epoch=data.steps_per_epoch,
            validation_data=data.validation,
            callbacks=callbacks,
            verbose=request.verbose,
        )
    return model, history


def run_vocabularies(run, config, splits, resuming):
    """The run's (source_tokens, target_tokens), lists of str.

    A resumed run reads its own back: the vocabulary files are the cache of what
    was learned. A new run learns them from its train split (words or WordPiece,
    as config.tokenizer says), says how long that took, and saves them with its
    test split beside them for `evaluate`. Learning happens before training
    starts, so it does not count against a time budget.
    """
    if resuming:
        run.require(run.source_vocab, run.target_vocab)
        return vocabulary.load_vocabulary(run.source_vocab), vocabulary.load_vocabulary(run.target_vocab)
    started = time.perf_counter()
    source_tokens, target_tokens = tokenizers.build_vocabularies(
        config, list(splits.train["english"]), list(splits.train["french"])
    )
    say(
        f"{config.tokenizer} vocabularies: {len(source_tokens) + 2} English and {len(target_tokens) + 2} French tokens, "
        f"learned from {len(splits.train)} training pairs in {time.perf_counter() - started:.1f} s "
        "(before training, outside any time budget)"
    )
    vocabulary.save_vocabulary(source_tokens, run.source_vocab)
    vocabulary.save_vocabulary(target_tokens, run.target_vocab)
    corpus.write_pairs(splits.test, run.test_pairs)
    return source_tokens, target_tokens


def build_model(config, source_vocab_size, target_vocab_size, strategy, checkpoint=None):
    """The compiled training model, made under the config's precision and `strategy`.

    Args:
        config: the run's TrainConfig.
        source_vocab_size, target_vocab_size: vocabulary sizes with padding and OOV.
        strategy: the tf.distribute.Strategy whose scope holds the variables.
        checkpoint: a checkpoint to load weights and optimizer state from, or None.
    """
    precision, choice = training_precision(config)
    with computing_in(precision):
        with strategy.scope():
            model = build_training_model(config, source_vocab_size, target_vocab_size)
            compile_model(model, config, extra_metrics=[TargetTokens()])
            if checkpoint is not None:
                load_checkpoint(model, checkpoint)
    # Said once the checkpoint has loaded: a damaged one is then the only message.
    say(choice)
    return model


def training_precision(config):
    """The precision this machine trains `config` in (seqlib/precision.py), and the line
    that says it.

    "auto" is chosen again on every start, so a run begun on an AMX CPU or an A100 in
    bfloat16 resumes in float32 on a CPU without bfloat16 (the weights are float32
    either way), and the other way round.
    """
    cpu, gpus = cpu_description(), gpu_capabilities()
    precision, reason = choose_precision(config.precision, cpu, gpus)
    emulated = not gpus and emulated_on_cpu(precision, cpu)
    warning = (
        f"; this CPU has no {precision[6:]} arithmetic of its own, so it trains slower here than in float32" if emulated else ""
    )
    how = f"chosen automatically: {reason}" if config.precision == AUTO else "as the run's settings say"
    return precision, f"precision: {precision} ({how}{warning})"
