"""--time-budget: training stops after the epoch that crosses it, and says early when."""

import types

import pytest

from seqlib import train


@pytest.fixture
def clock(monkeypatch):
    now = types.SimpleNamespace(seconds=0.0)
    monkeypatch.setattr(train.time, "monotonic", lambda: now.seconds)
    return now


def test_after_the_first_epoch_it_says_when_training_will_stop(clock, capsys):
    budget = train.TimeBudget(650, last_epoch=30)
    budget.set_model(types.SimpleNamespace(stop_training=False))
    clock.seconds = 100.0
    budget.on_epoch_end(0)
    # 100 s an epoch: epochs 2-6 end before 650 s, epoch 7 crosses it and runs to its end.
    assert "epoch 1 took 100 s: expect to stop after epoch 7 (about 12 minutes in all)" in capsys.readouterr().err
    for epoch in range(1, 6):
        clock.seconds += 100.0
        budget.on_epoch_end(epoch)
        assert not budget.model.stop_training
    assert capsys.readouterr().err == "", "said once"
    clock.seconds += 100.0
    budget.on_epoch_end(6)
    assert budget.model.stop_training
    assert "time budget of 650 s reached after epoch 7 (700 s); stopping" in capsys.readouterr().err


def test_the_preset_epoch_cap_comes_first_when_it_is_sooner(clock, capsys):
    budget = train.TimeBudget(3600, last_epoch=5)  # resumed at epoch 3 of 5
    budget.set_model(types.SimpleNamespace(stop_training=False))
    clock.seconds = 60.0
    budget.on_epoch_end(3)
    assert "epoch 4 took 60 s: expect to stop after epoch 5 (about 2 minutes in all)" in capsys.readouterr().err
