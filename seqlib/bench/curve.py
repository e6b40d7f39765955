"""Quality per minute: `python -m seqlib bench --curve MINUTES`.

A learner waits for a useful translator, not for tokens per second, and seqlib's
model and the tutorial's differ in size and in what a token buys. So both train
on the same training split for the same wall-clock, one after the other, and are
scored greedy on the same test sentences at the same moments of their training
(scoring time is left out of both clocks). seqlib's model trains as `train
--config PRESET --time-budget` trains it (its budget schedule, epochs, validation
and checkpoints all count as training time); the tutorial's the tutorial's way (`fit`,
Adam at Keras's defaults, batch 64).

The score is BLEU on lower-cased text with accents stripped (`bleu_folded` in
seqlib.evaluation.scores): the tutorial's model writes such text, so cased BLEU
would measure its standardisation, not its translations.

The headline is time to quality: the minutes seqlib needs to reach the BLEU the
tutorial's model ends with, against the minutes the tutorial's model trained.
"""

import json
import math
import re
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf

from seqlib.bench.baseline import tutorial_dataset
from seqlib.bench.training import fit_until_stopped
from seqlib.config import get_preset
from seqlib.data import corpus
from seqlib.data.vocabulary import load_vocabulary
from seqlib.decoding.loading import build_translator
from seqlib.decoding.serving import translate_sentences
from seqlib.evaluation.scores import score
from seqlib.hardware import cpu_description
from seqlib.models import tutorial
from seqlib.rundir import RunDir
from seqlib.training.notes import say
from seqlib.training.train import load_splits, train

# Sentences translated at once when scoring.
SCORING_BATCH = 64
SPACE_BEFORE_PUNCTUATION = re.compile(r" ([.?!,])")


def scoring_moments(seconds, every):
    """The training seconds at which a curve is scored: a quarter and a half of `every`
    (where the curves climb fastest), then every `every` seconds, and the end.

    Returns:
        sorted list of float, the last one `seconds`.
    """
    moments = {every / 4, every / 2, *(every * i for i in range(1, math.ceil(seconds / every)))}
    return sorted(moment for moment in moments if moment < seconds) + [float(seconds)]


def time_to_reach(points, target):
    """The training seconds at which a curve first reaches `target` BLEU, interpolated
    linearly between its scored moments (and from BLEU 0 at second 0); None if never.

    points: list of {"seconds", "bleu"} in time order.
    """
    before_seconds, before_bleu = 0.0, 0.0
    for point in points:
        if point["bleu"] >= target:
            rise = point["bleu"] - before_bleu
            share = (target - before_bleu) / rise if rise > 0 else 1.0
            return before_seconds + share * (point["seconds"] - before_seconds)
        before_seconds, before_bleu = point["seconds"], point["bleu"]
    return None


class TestSentences:
    """The distinct test sources and all their references, and how translations of them score."""

    def __init__(self, test_pairs, limit=None):
        self.sources, self.references = corpus.group_references(test_pairs)
        if limit is not None:
            self.sources, self.references = self.sources[:limit], self.references[:limit]

    def point(self, seconds, hypotheses, scoring_seconds):
        """One point of a curve: folded BLEU (the curve's measure), cased BLEU and chrF."""
        scores = score(hypotheses, self.references)
        return {
            "seconds": round(seconds, 1),
            "bleu": scores["bleu_folded"],
            "bleu_cased": scores["bleu"],
            "chrf": scores["chrf"],
            "scoring_seconds": round(scoring_seconds, 2),
        }


class CurveRecorder(keras.callbacks.Callback):
    """Scores seqlib's model while `train` trains it, at the given seconds of its
    time budget's clock, and leaves the scoring time out of that clock (so the
    learning-rate schedule and the stop see training time only)."""

    def __init__(self, run_dir, config, test, moments):
        super().__init__()
        self.run_dir, self.config, self.test = RunDir(run_dir), config, test
        self.moments = list(moments)
        self.points = []
        self.budget_clock = None  # set by seqlib.training.callbacks.training_callbacks
        self.translator = None

    def on_train_batch_end(self, batch, logs=None):
        if self.moments and self.budget_clock.elapsed() >= self.moments[0]:
            self.record()

    def on_train_end(self, logs=None):
        if self.moments:  # the end of the budget: its last moment
            self.record()

    def record(self):
        trained = self.budget_clock.elapsed()
        started = time.perf_counter()
        if self.translator is None:
            # Shares the model's layers, so it follows training: traced once.
            tokens = load_vocabulary(self.run_dir.source_vocab), load_vocabulary(self.run_dir.target_vocab)
            self.translator = build_translator(self.model, self.config, *tokens)
        hypotheses = [found[0][0] for found in translate_sentences(self.translator, self.test.sources, batch_size=SCORING_BATCH)]
        scoring = time.perf_counter() - started
        self.points.append(self.test.point(trained, hypotheses, scoring))
        self.budget_clock.exclude(scoring)
        while self.moments and self.moments[0] <= trained:
            self.moments.pop(0)
        say(f"  {self.config.arch} at {trained / 60:.1f} min: BLEU {self.points[-1]['bleu']:.1f}")


def seqlib_curve(config, seconds, moments, test, work_dir):
    """seqlib's model of `config` trained `seconds` by `train`, scored at `moments`: the points."""
    run_dir = Path(work_dir) / f"seqlib-{config.arch}"
    recorder = CurveRecorder(run_dir, config, test, moments)
    train(config, run_dir, time_budget=seconds, verbose=0, extra_callbacks=[recorder])
    return recorder.points


def tutorial_curve(train_pairs, seconds, moments, test):
    """The tutorial's model trained the tutorial's way (`fit`, Adam at Keras's defaults, batch 64)
    for `seconds` of training (its vectorizers adapt first, outside the clock, as seqlib's
    vocabularies are learned), scored at `moments`: the points."""
    source_vectorizer, target_vectorizer = tutorial.make_vectorizers(train_pairs.english, train_pairs.french)
    model = tutorial.build(source_vectorizer, target_vectorizer)
    recorder = TutorialRecorder(tutorial.TutorialGreedy(model, source_vectorizer, target_vectorizer), test, moments)
    fit_until_stopped(model, tutorial_dataset(train_pairs, source_vectorizer, target_vectorizer), recorder)
    return recorder.points


class TutorialRecorder(keras.callbacks.Callback):
    """Scores the tutorial's model at the given seconds of its training, leaves the
    scoring time out of its clock, and stops its `fit` after the last moment."""

    def __init__(self, translator, test, moments):
        super().__init__()
        self.translator, self.test, self.moments = translator, test, list(moments)
        self.points, self.excluded, self.started = [], 0.0, None

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # waits for the step, in case Keras hands over its logs before they are computed
        trained = time.perf_counter() - self.started - self.excluded
        if trained < self.moments[0]:
            return
        scoring_started = time.perf_counter()
        hypotheses = []
        for first in range(0, len(self.test.sources), SCORING_BATCH):
            batch = tf.constant(self.test.sources[first : first + SCORING_BATCH])
            # Its words are space-separated, punctuation too; joined back as written (sacreBLEU's
            # tokenisation splits it again, so the score is the same, without its warning).
            translations = self.translator.translate(batch)["translation"].numpy()
            hypotheses += [SPACE_BEFORE_PUNCTUATION.sub(r"\1", text.decode()) for text in translations]
        scoring = time.perf_counter() - scoring_started
        self.excluded += scoring
        self.points.append(self.test.point(trained, hypotheses, scoring))
        say(f"  tutorial at {trained / 60:.1f} min: BLEU {self.points[-1]['bleu']:.1f}")
        self.moments = [moment for moment in self.moments if moment > trained]
        if not self.moments:  # the last moment is `seconds`
            self.model.stop_training = True


def run_curve(minutes, every_minutes=2.0, preset="cpu", transformer=False, max_pairs=None, test_limit=None, work_dir=None):
    """Trains and scores seqlib's preset, the tutorial's model and, if asked, the preset's
    transformer, one after the other for `minutes` each: the report (a dict)."""
    seconds, every = minutes * 60.0, every_minutes * 60.0
    moments = scoring_moments(seconds, every)
    configs = [get_preset(preset)] + ([get_preset(preset, "transformer")] if transformer else [])
    if max_pairs is not None:
        configs = [config.replace(max_pairs=max_pairs) for config in configs]
    splits = load_splits(configs[0], corpus.BUNDLED_CORPUS)  # the split every run below trains and is scored on
    test = TestSentences(splits.test, test_limit)
    say(f"quality per minute: {minutes:g} min each, scored at {', '.join(f'{m / 60:g}' for m in moments)} min")
    curves = {}
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        for config in configs:
            curves[f"seqlib_{config.arch}"] = seqlib_curve(config, seconds, moments, test, scratch)
    keras.backend.clear_session()
    curves["tutorial"] = tutorial_curve(splits.train, seconds, moments, test)
    return curve_report(minutes, every_minutes, preset, len(splits.train), test, curves)


def curve_report(minutes, every_minutes, preset, train_pairs, test, curves):
    """The curves and the time-to-quality headline, with the machine they come from."""
    tutorial_final = curves["tutorial"][-1]["bleu"]
    tutorial_seconds = curves["tutorial"][-1]["seconds"]
    reached = time_to_reach(curves["seqlib_gru"], tutorial_final)
    headline = {
        "tutorial_final_bleu": tutorial_final,
        "tutorial_minutes": round(tutorial_seconds / 60, 2),
        "seqlib_minutes_to_tutorial_final_bleu": None if reached is None else round(reached / 60, 2),
        # The first scored moment bounds how early seqlib could be seen to get there.
        "reached_before_first_moment": reached is not None and reached <= curves["seqlib_gru"][0]["seconds"],
        "time_to_quality_ratio": round(tutorial_seconds / reached, 2) if reached else None,
        "goal_ratio": 5.0,
    }
    if "seqlib_transformer" in curves:
        reached = time_to_reach(curves["seqlib_transformer"], tutorial_final)
        headline["transformer_minutes_to_tutorial_final_bleu"] = None if reached is None else round(reached / 60, 2)
    return {
        "cpu": cpu_description(),
        "gpu": [device.name for device in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "preset": preset,
        "minutes": minutes,
        "every_minutes": every_minutes,
        "train_pairs": train_pairs,
        "test_sentences": len(test.sources),
        "measure": "greedy BLEU on lower-cased, accent-stripped text (sacreBLEU, every reference)",
        "headline": headline,
        "curves": curves,
    }


def format_curve(report):
    """The lines `bench --curve` prints."""
    cpu, headline = report["cpu"], report["headline"]
    lines = [
        f"seqlib bench --curve: {cpu['model']}, {cpu['cores']} cores, GPU: {', '.join(report['gpu']) or 'none'}; "
        f"preset {report['preset']}, {report['minutes']:g} min a model, {report['test_sentences']} test sentences",
        f"  {'point':>8} " + " ".join(f"{name:>18}" for name in report["curves"]),
    ]
    longest = max(len(points) for points in report["curves"].values())
    for index in range(longest):
        cells = []
        for points in report["curves"].values():
            cells.append(f"{points[index]['bleu']:>8.1f} at {points[index]['seconds'] / 60:>5.1f}" if index < len(points) else "")
        lines.append(f"  {index + 1:>8} " + " ".join(f"{cell:>18}" for cell in cells))
    ratio = headline["time_to_quality_ratio"]
    if ratio is None:
        lines.append(
            f"  seqlib did not reach the tutorial's final BLEU ({headline['tutorial_final_bleu']}) in {report['minutes']:g} min"
        )
    else:
        early = " (at or before its first scored moment)" if headline["reached_before_first_moment"] else ""
        lines.append(
            f"  time to quality: seqlib reached the tutorial's final BLEU {headline['tutorial_final_bleu']} in "
            f"{headline['seqlib_minutes_to_tutorial_final_bleu']} min{early}, the tutorial in {headline['tutorial_minutes']} min: "
            f"{ratio}x (goal {headline['goal_ratio']:g}x)"
        )
    return "\n".join(lines)


def plot_curve(report, path):
    """BLEU against training minutes, one line a model, as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    labels = {
        "seqlib_gru": f"seqlib GRU ({report['preset']})",
        "seqlib_transformer": "seqlib transformer",
        "tutorial": "TF tutorial",
    }
    for name, points in report["curves"].items():
        minutes = [0.0] + [point["seconds"] / 60 for point in points]
        axes.plot(minutes, [0.0] + [point["bleu"] for point in points], marker="o", label=labels.get(name, name))
    headline = report["headline"]
    axes.axhline(headline["tutorial_final_bleu"], color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("training minutes (scoring excluded)")
    axes.set_ylabel("greedy BLEU, lower-cased, no accents")
    ratio = headline["time_to_quality_ratio"]
    axes.set_title(
        f"{report['cpu']['model']}, {report['cpu']['cores']} cores: time to the tutorial's final BLEU "
        + (f"{ratio}x" if ratio else "not reached"),
        fontsize=9,
    )
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(minutes, json_file, every_minutes=2.0, preset="cpu", transformer=False, max_pairs=None, test_limit=None):
    """Runs the curve, prints it, writes the JSON and the PNG beside it; returns the report."""
    json_path = Path(json_file)
    json_path.parent.mkdir(parents=True, exist_ok=True)  # before the long run, so a bad path fails first
    report = run_curve(minutes, every_minutes, preset, transformer, max_pairs, test_limit)
    print(format_curve(report))
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    png = plot_curve(report, json_path.with_suffix(".png"))
    print(f"  wrote {json_path} and {png}")
    return report
