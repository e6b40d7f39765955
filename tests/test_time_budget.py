"""--time-budget: training stops at the step that crosses it, says early when, and the
learning rate follows the budget (warm-up, then a linear decay as it runs out)."""

import types

import pytest

from seqlib.errors import SeqlibError
from seqlib.training import budget as budget_module
from seqlib.training.budget import BudgetClock, BudgetSchedule, TimeBudget, budget_callbacks


@pytest.fixture
def clock(monkeypatch):
    now = types.SimpleNamespace(seconds=0.0)
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: now.seconds)
    return now


def budget_on_a_model(seconds, last_epoch):
    budget = TimeBudget(BudgetClock(seconds), last_epoch=last_epoch)
    budget.set_model(types.SimpleNamespace(stop_training=False))
    return budget


def test_after_the_first_epoch_it_says_when_training_will_stop(clock, capsys):
    budget = budget_on_a_model(650, last_epoch=30)
    clock.seconds = 100.0
    budget.on_epoch_end(0)
    # 100 s an epoch: epochs 2-6 end before 650 s, and the budget runs out in epoch 7.
    assert "epoch 1 took 100 s: expect to stop in epoch 7 (about 11 minutes in all, when the budget is spent)" in (
        capsys.readouterr().err
    )
    for epoch in range(1, 6):
        for step in range(10):
            clock.seconds += 10.0
            budget.on_train_batch_end(step)
        budget.on_epoch_end(epoch)
        assert not budget.model.stop_training
    assert capsys.readouterr().err == "", "said once"


def test_the_step_that_crosses_the_budget_is_the_last(clock, capsys):
    budget = budget_on_a_model(650, last_epoch=30)
    clock.seconds = 600.0
    budget.on_train_batch_end(0)
    assert not budget.model.stop_training
    clock.seconds = 651.0
    budget.on_train_batch_end(1)
    assert budget.model.stop_training, "Keras ends the epoch after this step"
    budget.on_epoch_end(6)  # the shortened epoch is validated and checkpointed as usual
    assert "time budget of 650 s reached in epoch 7, 2 steps into it (651 s); stopping" in capsys.readouterr().err


def test_the_preset_epoch_cap_comes_first_when_it_is_sooner(clock, capsys):
    budget = budget_on_a_model(3600, last_epoch=5)  # resumed at epoch 3 of 5
    clock.seconds = 60.0
    budget.on_epoch_end(3)
    assert "epoch 4 took 60 s: expect to stop in epoch 5 (about 2 minutes in all, at the last epoch)" in capsys.readouterr().err


def test_the_learning_rate_warms_up_then_decays_to_one_percent_as_the_budget_runs_out():
    schedule = BudgetSchedule(peak=2e-3, clock=BudgetClock(1000), warmup_steps=100)
    assert schedule.rate(elapsed=0, steps=0) == pytest.approx(2e-3 / 100)
    assert schedule.rate(elapsed=5, steps=49) == pytest.approx(2e-3 * 0.5 * (0.01 + 0.99 * 0.995))
    assert schedule.rate(elapsed=10, steps=99) == pytest.approx(2e-3 * (0.01 + 0.99 * 0.99))
    # After the warm-up, linear in the time left, down to 1 % of the peak at the budget and after it.
    rates = [schedule.rate(elapsed=seconds, steps=1000) for seconds in range(0, 1001, 100)]
    assert rates == sorted(rates, reverse=True)
    assert rates[5] == pytest.approx(2e-3 * (0.01 + 0.99 * 0.5))
    assert rates[-1] == pytest.approx(2e-5)
    assert schedule.rate(elapsed=5000, steps=5000) == pytest.approx(2e-5)


def test_the_stop_and_the_schedule_read_one_clock(clock):
    """The learning rate reaches its floor at the very step training stops."""
    clock.seconds = 50.0  # the clock starts when it is made, not at zero
    (schedule,), (stop,) = budget_callbacks(BudgetClock(100), last_epoch=30, schedule="budget", peak_learning_rate=1e-3)
    assert schedule.clock is stop.clock
    model = types.SimpleNamespace(stop_training=False, optimizer=types.SimpleNamespace(learning_rate=None))
    schedule.set_model(model)
    stop.set_model(model)
    schedule.steps = 1000  # past the warm-up
    clock.seconds = 100.0
    schedule.on_train_batch_begin(0)
    stop.on_train_batch_end(0)
    assert model.optimizer.learning_rate == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5)) and not model.stop_training
    clock.seconds = 150.0
    schedule.on_train_batch_begin(1)
    stop.on_train_batch_end(1)
    assert model.optimizer.learning_rate == pytest.approx(1e-5) and model.stop_training


def test_a_constant_schedule_adds_only_the_stop():
    first, last = budget_callbacks(BudgetClock(100), last_epoch=3, schedule="constant", peak_learning_rate=1e-3)
    assert first == [] and [type(callback) for callback in last] == [TimeBudget]


def test_an_unknown_schedule_is_refused(tmp_path):
    from seqlib.config import get_preset
    from seqlib.training.train import train

    config = get_preset("tiny").replace(epochs=1, max_pairs=300)
    with pytest.raises(SeqlibError, match="unknown learning-rate schedule 'cosine'"):
        train(config, tmp_path / "other", time_budget=10, schedule="cosine")
