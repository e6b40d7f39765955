"""The callbacks a training run gives model.fit, and the order they run in."""

import random
import time

import keras

from seqlib.data import corpus
from seqlib.decoding.loading import build_translator
from seqlib.training.budget import BudgetClock, budget_callbacks
from seqlib.training.checkpoints import EpochCheckpoint
from seqlib.training.monitor import TranslationMonitor


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


def monitor_for(model, config, validation, source_tokens, target_tokens, run, sample_size=200):
    """The TensorBoard translation monitor on a fixed, seeded validation sample."""
    sources, references = corpus.group_references(validation)
    chosen = sorted(random.Random(config.seed).sample(range(len(sources)), min(sample_size, len(sources))))
    translator = build_translator(model, config, source_tokens, target_tokens)
    return TranslationMonitor(translator, run.logs, [sources[i] for i in chosen], [references[i] for i in chosen], config=config)


def training_callbacks(run, monitor, config, time_budget=None, schedule="budget", extra_callbacks=()):
    """The callbacks of one training run, in the order Keras calls them.

    Args:
        run: the RunDir checkpoints and logs go to.
        monitor: the TranslationMonitor (monitor_for); it adds `val_bleu` to the
            epoch logs, so it runs before TensorBoard writes them.
        config: the run's TrainConfig (its epochs and peak learning rate).
        time_budget: seconds, or None for none.
        schedule: a name from seqlib.config.SCHEDULES; "budget" decays the learning
            rate as the budget runs out.
        extra_callbacks: the caller's, run before TensorBoard so what they log is written;
            one with a `budget_clock` attribute is given the time budget's clock.

    Returns:
        list of keras.callbacks.Callback.
    """
    callbacks = [
        EpochCheckpoint(run),
        Throughput(),
        monitor,
        *extra_callbacks,
        keras.callbacks.TensorBoard(log_dir=str(run.logs), update_freq="epoch", write_graph=True),
    ]
    if time_budget is None:
        return callbacks
    clock = BudgetClock(time_budget)
    for callback in extra_callbacks:
        if hasattr(callback, "budget_clock"):
            callback.budget_clock = clock
    first, last = budget_callbacks(clock, config.epochs, schedule, config.learning_rate)
    return first + callbacks + last
