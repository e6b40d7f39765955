"""A wall-clock time budget for training: one clock, read by the callback that stops
training when the budget is spent and by the learning-rate schedule that decays as it
runs out, so the two never disagree about how much is left."""

import math
import time

import keras

from seqlib.training.notes import say


class BudgetClock:
    """The seconds a training may run, counted from when the clock is made."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.started = time.monotonic()

    def elapsed(self):
        """Seconds since the clock started, less any excluded."""
        return time.monotonic() - self.started

    def exclude(self, seconds):
        """Leaves `seconds` just spent out of the budget (the bench's scoring, say)."""
        self.started += seconds

    def spent(self):
        """Whether the budget has run out."""
        return self.elapsed() >= self.seconds


class TimeBudget(keras.callbacks.Callback):
    """Stops training cleanly when the wall-clock budget is spent, and says after the
    first epoch when that will be (the learner's "how long do I wait").

    The step that crosses the budget is the last: its epoch ends there, is validated
    and checkpointed like any other (so a resumed run counts it as done).
    """

    def __init__(self, clock, last_epoch):
        super().__init__()
        self.clock = clock
        self.last_epoch = last_epoch
        self.announced = False
        self.spent_in_epoch = None

    def on_train_batch_end(self, batch, logs=None):
        if not self.model.stop_training and self.clock.spent():
            self.spent_in_epoch = batch + 1
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        elapsed = self.clock.elapsed()
        seconds = self.clock.seconds
        if self.spent_in_epoch is not None or elapsed >= seconds:
            steps = f", {self.spent_in_epoch} steps into it" if self.spent_in_epoch is not None else ""
            say(f"time budget of {seconds:g} s reached in epoch {epoch + 1}{steps} ({elapsed:.0f} s); stopping")
            self.model.stop_training = True
        elif not self.announced:
            epochs = min(math.ceil(seconds / elapsed), self.last_epoch - epoch)
            ends = "when the budget is spent" if epochs < self.last_epoch - epoch else "at the last epoch"
            total = min(elapsed * epochs, seconds)
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

    def __init__(self, peak, clock, warmup_steps=100, final_fraction=0.01):
        super().__init__()
        self.peak = peak
        self.clock = clock
        self.warmup_steps = warmup_steps
        self.final_fraction = final_fraction
        self.steps = 0

    def rate(self, elapsed, steps):
        """The learning rate after `elapsed` seconds and `steps` steps of this run."""
        warmup = min(1.0, (steps + 1) / self.warmup_steps)
        remaining = max(0.0, 1.0 - elapsed / self.clock.seconds)
        return self.peak * warmup * (self.final_fraction + (1.0 - self.final_fraction) * remaining)

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rate(self.clock.elapsed(), self.steps)
        self.steps += 1


def budget_callbacks(clock, last_epoch, schedule, peak_learning_rate):
    """The callbacks a time budget adds: (those to run first, those to run last).

    The schedule runs first, so the rate is set before the step (and the epoch's logs
    show the rate used); the stop runs last, so it speaks once the epoch is saved and logged.
    """
    first = [BudgetSchedule(peak_learning_rate, clock)] if schedule == "budget" else []
    return first, [TimeBudget(clock, last_epoch=last_epoch)]
