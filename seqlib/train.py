"""Training: from a corpus file to a run directory, resumable at every epoch."""

import contextlib
import os
import random
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from seqlib import data, vocabulary
from seqlib.distribute import make_strategy
from seqlib.errors import SeqlibError
from seqlib.metrics import TargetTokens
from seqlib.model import build_training_model, compile_model
from seqlib.monitor import TranslationMonitor
from seqlib.pipeline import keep_shorter_than, make_dataset, vectorize_pairs
from seqlib.rundir import RunDir, build_translator


def say(message):
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def training_lock(run):
    """Refuses a second training on a run directory that one is already using."""
    for _ in range(2):
        try:
            descriptor = os.open(run.lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                owner = int(run.lock_file.read_text().strip() or 0)
                if owner <= 0:
                    raise ValueError("no process id in the lock file")
                os.kill(owner, 0)
            except (ValueError, ProcessLookupError, FileNotFoundError):
                # The process that held it is gone (killed): the lock is stale.
                run.lock_file.unlink(missing_ok=True)
                continue
            except PermissionError:
                pass
            raise SeqlibError(
                f"{run.path} is in use by another training (process {owner}); wait for it or remove {run.lock_file} if it is not running"
            ) from None
    else:
        raise SeqlibError(f"cannot take the lock {run.lock_file}")
    try:
        os.write(descriptor, str(os.getpid()).encode())
        os.close(descriptor)
        yield
    finally:
        run.lock_file.unlink(missing_ok=True)


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
    """Stops training cleanly after the epoch that crosses the budget."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.monotonic() - self.started
        if elapsed >= self.seconds:
            say(f"time budget of {self.seconds:g} s reached after epoch {epoch + 1} ({elapsed:.0f} s); stopping")
            self.model.stop_training = True


def monitor_for(model, config, validation, source_tokens, target_tokens, run, sample_size=200):
    """The TensorBoard translation monitor on a fixed, seeded validation sample."""
    sources, references = data.group_references(validation)
    chosen = sorted(random.Random(config.seed).sample(range(len(sources)), min(sample_size, len(sources))))
    translator = build_translator(model, config, source_tokens, target_tokens)
    return TranslationMonitor(translator, run.logs, [sources[i] for i in chosen], [references[i] for i in chosen], config=config)


def load_splits(config, data_path):
    pairs = data.read_pairs(data_path, max_pairs=config.max_pairs)
    return data.split_pairs(pairs, config.validation_fraction, config.test_fraction, config.seed)


def train(config, out, data_path=None, time_budget=None, verbose="auto", extra_callbacks=(), strategy="default"):
    """Trains `config` into run directory `out`, resuming if it holds a checkpoint.

    Args:
        config: TrainConfig. On resume the saved config is used; its `epochs`
            is replaced by this one's, so a finished run can be extended.
        out: run directory path.
        data_path: corpus file; defaults to the bundled data/fra.txt.gz.
        time_budget: seconds; stop after the epoch that crosses it.
        strategy: a name from seqlib.distribute.STRATEGIES; the global batch is
            config.batch_size times the number of replicas.

    Returns:
        (keras.Model, keras History).
    """
    if config.epochs < 1:
        raise SeqlibError(f"--epochs must be at least 1, got {config.epochs}")
    if time_budget is not None and time_budget <= 0:
        raise SeqlibError(f"--time-budget must be a positive number of seconds, got {time_budget:g}")
    strategy = make_strategy(strategy)
    run = prepare_run_directory(out)
    with training_lock(run):
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
            config = saved_config.replace(epochs=config.epochs)
            if completed >= config.epochs:
                say(f"{run.path} already holds {completed} of {config.epochs} epochs; nothing to do")
                run.require(run.model_file)
                return keras.models.load_model(run.model_file, compile=False), None
            say(f"resuming from epoch {completed}")
        data_path = Path(data_path) if data_path is not None else data.DEFAULT_CORPUS
        keras.utils.set_random_seed(config.seed)
        splits = load_splits(config, data_path)
        if checkpoint is None:
            source_tokens = vocabulary.build_vocabulary(list(splits.train["english"]), config.source_vocab_size, config.min_count)
            target_tokens = vocabulary.build_vocabulary(
                list(splits.train["french"]), config.target_vocab_size, config.min_count, vocabulary.TARGET_SPECIAL_TOKENS
            )
            vocabulary.save_vocabulary(source_tokens, run.source_vocab)
            vocabulary.save_vocabulary(target_tokens, run.target_vocab)
            data.write_pairs(splits.test, run.test_pairs)
        else:
            run.require(run.source_vocab, run.target_vocab)
            source_tokens = vocabulary.load_vocabulary(run.source_vocab)
            target_tokens = vocabulary.load_vocabulary(run.target_vocab)
        # Absolute, so that resuming from another working directory finds it.
        run.save_config(config, data_path.resolve())

        source_vectorizer = vocabulary.make_vectorizer(source_tokens, ragged=True)
        target_vectorizer = vocabulary.make_vectorizer(target_tokens, ragged=True)

        def dataset(pairs, shuffle_seed, repeat):
            source, target = vectorize_pairs(pairs["english"], pairs["french"], source_vectorizer, target_vectorizer)
            source, target = keep_shorter_than(source, target, config.max_tokens)
            replicas = strategy.num_replicas_in_sync
            return make_dataset(
                source,
                target,
                config.batch_size * replicas,
                shuffle_seed=shuffle_seed,
                repeat=repeat,
                drop_remainder=replicas > 1,
            )

        repeat = config.steps_per_epoch is not None
        # A resumed run shuffles afresh: the same seed would replay epoch 1's batches.
        train_data = dataset(splits.train, config.seed + completed, repeat)
        validation_data = dataset(splits.validation, None, False)

        previous_policy = keras.mixed_precision.global_policy()
        if config.mixed_precision and tf.config.list_physical_devices("GPU"):
            keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            with strategy.scope():
                model = build_training_model(config, len(source_tokens) + 2, len(target_tokens) + 2)
                compile_model(model, config, extra_metrics=[TargetTokens()])
                if checkpoint is not None:
                    model.optimizer.build(model.trainable_variables)
                    model.load_weights(checkpoint)
        finally:
            # The policy applies to layers built later too (a notebook's next model).
            keras.mixed_precision.set_global_policy(previous_policy)

        callbacks = [
            EpochCheckpoint(run),
            Throughput(),
            monitor_for(model, config, splits.validation, source_tokens, target_tokens, run),
            *extra_callbacks,
            keras.callbacks.TensorBoard(log_dir=str(run.logs), update_freq="epoch", write_graph=False),
        ]
        if time_budget is not None:
            callbacks.append(TimeBudget(time_budget))
        history = model.fit(
            train_data,
            epochs=config.epochs,
            initial_epoch=completed,
            steps_per_epoch=config.steps_per_epoch,
            validation_data=validation_data,
            callbacks=callbacks,
            verbose=verbose,
        )
        return model, history
