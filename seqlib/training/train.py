"""Training: from a corpus file to a run directory, resumable at every epoch."""

import contextlib
import fcntl
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from seqlib.config import check_training_limits
from seqlib.data import corpus, vocabulary
from seqlib.data.pipeline import keep_shorter_than, make_dataset, vectorize_pairs
from seqlib.errors import RunDirError, SeqlibError, first_line
from seqlib.models.gru import compile_model
from seqlib.models.metrics import TargetTokens
from seqlib.models.registry import build_training_model
from seqlib.rundir import RunDir, build_translator, load_training_model
from seqlib.training.distribute import fit_scope, make_strategy
from seqlib.training.monitor import TranslationMonitor


def say(message):
    print(message, file=sys.stderr, flush=True)


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


def remove_partial_files(run):
    """Deletes files a killed training left half-written (`partial-*`); none is ever read."""
    for folder in (run.path, run.checkpoints):
        if folder.is_dir():
            for partial in folder.glob("partial-*"):
                partial.unlink(missing_ok=True)


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


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves weights + optimizer state and the model after every epoch.

    Each file is written under a temporary name and renamed, so a kill at any
    moment leaves the previous complete checkpoint in place.
    """

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        self.run.checkpoints.mkdir(exist_ok=True)
        final = self.run.checkpoint_path(completed)
        temporary = final.with_name("partial-" + final.name)
        # The model first: a kill between the two renames leaves a model one epoch
        # ahead of the checkpoint, and resuming redoes that epoch; the other order
        # would leave a finished run whose model.keras is an epoch behind.
        temporary_model = self.run.path / "partial-model.keras"
        self.model.save(temporary_model)
        os.replace(temporary_model, self.run.model_file)
        self.model.save_weights(temporary)
        os.replace(temporary, final)
        for older in self.run.checkpoints.glob("epoch-*.weights.h5"):
            if older != final:
                older.unlink(missing_ok=True)


class Throughput(keras.callbacks.Callback):
    """Adds target tokens/s and the learning rate to the epoch logs (so TensorBoard gets them)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        self.tokens = 0.0

    def on_train_batch_end(self, batch, logs=None):
        # The running count of this epoch's training tokens; the epoch-end logs
        # hold the validation count instead.
        self.tokens = float((logs or {}).get("target_tokens", self.tokens))
        self.trained = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["tokens_per_s"] = self.tokens / (self.trained - self.started)
            logs.pop("target_tokens", None)
            logs.pop("val_target_tokens", None)
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class TimeBudget(keras.callbacks.Callback):
    """Stops training cleanly when the wall-clock budget is spent, and says after the
    first epoch when that will be (the learner's "how long do I wait").

    The step that crosses the budget is the last: its epoch ends there, is validated
    and checkpointed like any other (so a resumed run counts it as done).
    """

    def __init__(self, seconds, last_epoch):
        super().__init__()
        self.seconds = seconds
        self.last_epoch = last_epoch
        self.started = time.monotonic()
        self.announced = False
        self.spent_in_epoch = None

    def on_train_batch_end(self, batch, logs=None):
        if not self.model.stop_training and time.monotonic() - self.started >= self.seconds:
            self.spent_in_epoch = batch + 1
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.monotonic() - self.started
        if self.spent_in_epoch is not None or elapsed >= self.seconds:
            steps = f", {self.spent_in_epoch} steps into it" if self.spent_in_epoch is not None else ""
            say(f"time budget of {self.seconds:g} s reached in epoch {epoch + 1}{steps} ({elapsed:.0f} s); stopping")
            self.model.stop_training = True
        elif not self.announced:
            epochs = min(math.ceil(self.seconds / elapsed), self.last_epoch - epoch)
            ends = "when the budget is spent" if epochs < self.last_epoch - epoch else "at the last epoch"
            total = min(elapsed * epochs, self.seconds)
            about = f"{total / 60:.0f} minutes" if total >= 90 else f"{total:.0f} s"
            say(
                f"epoch {epoch + 1} took {elapsed:.0f} s: expect to stop in epoch {epoch + epochs} (about {about} in all, {ends})"
            )
        self.announced = True


class BudgetSchedule(keras.callbacks.Callback):
    """A learning rate that follows the wall-clock budget: a linear warm-up over the
    first `warmup_steps`, then a linear decay to `final_fraction` of the peak as the
    budget runs out (budgeted training, Li et al., ICLR 2020: decaying to zero by the
    end of the budget beats a fixed rate at every budget).

    Progress is measured in seconds, not steps, because the steps a budget holds are
    unknown until training runs; a resumed run schedules its own new budget.
    """

    def __init__(self, peak, seconds, warmup_steps=100, final_fraction=0.01):
        super().__init__()
        self.peak = peak
        self.seconds = seconds
        self.warmup_steps = warmup_steps
        self.final_fraction = final_fraction
        self.started = time.monotonic()
        self.steps = 0

    def rate(self, elapsed, steps):
        """The learning rate after `elapsed` seconds and `steps` steps of this run."""
        warmup = min(1.0, (steps + 1) / self.warmup_steps)
        remaining = max(0.0, 1.0 - elapsed / self.seconds)
        return self.peak * warmup * (self.final_fraction + (1.0 - self.final_fraction) * remaining)

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rate(time.monotonic() - self.started, self.steps)
        self.steps += 1


def monitor_for(model, config, validation, source_tokens, target_tokens, run, sample_size=200):
    """The TensorBoard translation monitor on a fixed, seeded validation sample."""
    sources, references = corpus.group_references(validation)
    chosen = sorted(random.Random(config.seed).sample(range(len(sources)), min(sample_size, len(sources))))
    translator = build_translator(model, config, source_tokens, target_tokens)
    return TranslationMonitor(translator, run.logs, [sources[i] for i in chosen], [references[i] for i in chosen], config=config)


def load_checkpoint(model, checkpoint):
    """Loads weights and optimizer state, turning a damaged or foreign file into a clear error."""
    try:
        model.load_weights(checkpoint)
    except Exception as error:  # h5py and Keras raise many types for truncated or mismatched files
        raise RunDirError(
            f"{checkpoint}: cannot resume from this checkpoint ({type(error).__name__}: {first_line(error)}); "
            "delete it to train this run from the start, or train into a new --out"
        ) from None


def checkpoint_bytes(model):
    """An upper estimate of the disk space one epoch's saving needs, in bytes.

    The checkpoint and model.keras each hold the float32 weights and Adam's two
    slots per weight (3 x 4 bytes a parameter); the new files are written beside
    the old ones before these are replaced. 16 MiB more cover logs and small files.
    """
    return 2 * model.count_params() * 4 * 3 + 16 * 2**20


def check_free_space(run, model):
    """Refuses to start a training whose first checkpoint would not fit on the disk."""
    needed = checkpoint_bytes(model)
    free = shutil.disk_usage(run.path).free
    if free < needed:
        raise SeqlibError(
            f"{run.path}: only {free / 2**20:.0f} MiB free, and saving an epoch's checkpoint and model needs "
            f"about {needed / 2**20:.0f} MiB; free some space or choose another --out"
        )


def load_splits(config, data_path):
    pairs = corpus.read_pairs(data_path, max_pairs=config.max_pairs)
    return corpus.split_pairs(pairs, config.validation_fraction, config.test_fraction, config.seed)


SCHEDULES = ("budget", "constant")


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
        strategy: a name from seqlib.training.distribute.STRATEGIES; the global batch is
            config.batch_size times the number of replicas.
        explicit: names of config fields the user set (e.g. `max_pairs` from
            --max-pairs); on resume, a note names those the run's own values override.

    Returns:
        (keras.Model, keras History).
    """
    check_training_limits(config.epochs, time_budget)
    if schedule not in SCHEDULES:
        raise SeqlibError(f"unknown learning-rate schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
    strategy = make_strategy(strategy)
    created = not Path(out).exists()
    try:
        run = prepare_run_directory(out)
        return _train_locked(run, config, data_path, time_budget, verbose, extra_callbacks, strategy, explicit, schedule)
    except BaseException:
        # A run that failed before writing anything (a bad corpus, say) leaves no
        # empty directory behind; anything written stays, to resume from.
        path = Path(out)
        if created and path.is_dir() and not any(path.iterdir()):
            with contextlib.suppress(OSError):  # never hide the error that got us here
                path.rmdir()
        raise


def _ignored_settings(requested, saved, explicit):
    """What the user asked for that a resumed run overrides: the preset, and the
    fields named in `explicit` whose value differs from the run's."""
    ignored = [f"--config {requested.name} (run: {saved.name})"] if requested.name != saved.name else []
    wanted, kept = requested.to_dict(), saved.to_dict()
    return ignored + [f"{key}={wanted[key]} (run: {kept.get(key)})" for key in explicit if wanted[key] != kept.get(key)]


def _train_locked(run, config, data_path, time_budget, verbose, extra_callbacks, strategy, explicit, schedule):
    with training_lock(run):
        remove_partial_files(run)
        completed, checkpoint = run.latest_checkpoint()
        if checkpoint is not None:
            saved_config, saved_data = run.load_config()
            if saved_data is None or not Path(saved_data).is_file():
                if data_path is None:
                    raise SeqlibError(
                        f"{run.path} was trained on {saved_data or 'a file it does not name'}, which is not there now; "
                        "pass --data FILE with the same corpus to continue"
                    )
            elif data_path is not None and Path(data_path).resolve() != Path(saved_data).resolve():
                say(f"note: {run.path} was trained on {saved_data}; continuing with that file, not {data_path}")
                data_path = saved_data
            else:
                data_path = saved_data
            ignored = _ignored_settings(config, saved_config, explicit)
            if ignored:
                say(f"note: resuming with {run.path}'s own settings; ignoring {', '.join(ignored)}")
            config = saved_config.replace(epochs=config.epochs)
            if completed >= config.epochs:
                _, _, model = load_training_model(run.path)
                say(f"{run.path} already holds {completed} of {config.epochs} epochs; nothing to do")
                return model, None
        data_path = Path(data_path) if data_path is not None else corpus.DEFAULT_CORPUS
        keras.utils.set_random_seed(config.seed)
        splits = load_splits(config, data_path)
        if checkpoint is None:
            source_tokens = vocabulary.build_vocabulary(list(splits.train["english"]), config.source_vocab_size, config.min_count)
            target_tokens = vocabulary.build_vocabulary(
                list(splits.train["french"]), config.target_vocab_size, config.min_count, vocabulary.TARGET_SPECIAL_TOKENS
            )
            vocabulary.save_vocabulary(source_tokens, run.source_vocab)
            vocabulary.save_vocabulary(target_tokens, run.target_vocab)
            corpus.write_pairs(splits.test, run.test_pairs)
        else:
            run.require(run.source_vocab, run.target_vocab)
            source_tokens = vocabulary.load_vocabulary(run.source_vocab)
            target_tokens = vocabulary.load_vocabulary(run.target_vocab)
        # Saved relative to the run directory (or as "bundled"), so a copied run resumes.
        run.save_config(config, data_path)

        source_vectorizer = vocabulary.make_vectorizer(source_tokens, ragged=True)
        target_vectorizer = vocabulary.make_vectorizer(target_tokens, ragged=True)

        def dataset(pairs, shuffle_seed, repeat, validation=False):
            source, target = vectorize_pairs(pairs["english"], pairs["french"], source_vectorizer, target_vectorizer)
            source, target = keep_shorter_than(source, target, config.max_tokens)
            replicas = strategy.num_replicas_in_sync
            batch_size = config.batch_size * replicas
            if replicas > 1 and validation:
                # Batches must split evenly across replicas, and a small validation split
                # may hold less than one global batch per length bucket: one padded batch
                # of what there is (a multiple of the replicas) instead of none.
                batch_size = max(replicas, min(batch_size, int(source.nrows()) // replicas * replicas))
            return make_dataset(
                source,
                target,
                batch_size,
                shuffle_seed=shuffle_seed,
                repeat=repeat,
                bucketing=not (replicas > 1 and validation),
                drop_remainder=replicas > 1,
            )

        repeat = config.steps_per_epoch is not None
        steps_per_epoch = config.steps_per_epoch
        if repeat:
            # An epoch is steps_per_epoch steps or one pass, whichever is fewer, so that a
            # small --max-pairs does not repeat its few pairs hundreds of times an epoch.
            one_pass = math.ceil(len(splits.train) / (config.batch_size * strategy.num_replicas_in_sync))
            steps_per_epoch = min(steps_per_epoch, one_pass)
        # A resumed run shuffles afresh: the same seed would replay epoch 1's batches.
        train_data = dataset(splits.train, config.seed + completed, repeat)
        validation_data = dataset(splits.validation, None, False, validation=True)

        previous_policy = keras.mixed_precision.global_policy()
        if config.mixed_precision:
            # The same policy with or without a GPU, so the gpu preset's code path runs
            # (and is tested) on any machine; float16 is emulated on a CPU, hence slow.
            if not tf.config.list_physical_devices("GPU"):
                say(f"note: preset {config.name!r} computes in mixed float16 for a GPU; without one it trains slowly here")
            keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            with strategy.scope():
                model = build_training_model(config, len(source_tokens) + 2, len(target_tokens) + 2)
                compile_model(model, config, extra_metrics=[TargetTokens()])
                if checkpoint is not None:
                    model.optimizer.build(model.trainable_variables)
                    load_checkpoint(model, checkpoint)
        finally:
            # The policy applies to layers built later too (a notebook's next model).
            keras.mixed_precision.set_global_policy(previous_policy)
        if checkpoint is not None:
            # Said only now, once the checkpoint has loaded: a damaged one is an error instead.
            say(f"resuming from epoch {completed}")
        check_free_space(run, model)

        callbacks = [
            EpochCheckpoint(run),
            Throughput(),
            monitor_for(model, config, splits.validation, source_tokens, target_tokens, run),
            *extra_callbacks,
            keras.callbacks.TensorBoard(log_dir=str(run.logs), update_freq="epoch", write_graph=True),
        ]
        if time_budget is not None:
            callbacks.append(TimeBudget(time_budget, last_epoch=config.epochs))
            if schedule == "budget":
                # First, so the rate is set before the step (Throughput logs what was used).
                callbacks.insert(0, BudgetSchedule(config.learning_rate, time_budget))
        with fit_scope(model, strategy, train_data):
            history = model.fit(
                train_data,
                epochs=config.epochs,
                initial_epoch=completed,
                steps_per_epoch=steps_per_epoch,
                validation_data=validation_data,
                callbacks=callbacks,
                verbose=verbose,
            )
        return model, history
