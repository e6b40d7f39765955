"""Training configurations: one frozen dataclass, and the named presets.

A TrainConfig holds what every model family shares (data, vocabularies, batches,
optimiser) and, under `model`, the family's own settings (seqlib/models/*_settings.py).
The family is chosen through seqlib/models/registry.py.
"""

import dataclasses
import math
import typing
from dataclasses import dataclass

from seqlib.errors import SeqlibError, check_at_least_one
from seqlib.models.registry import FAMILIES, family
from seqlib.precision import check_precision


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved as config.json in the run directory."""

    name: str
    arch: str = "gru"  # model family: a name in seqlib.models.registry.ARCHITECTURES
    model: object = None  # the family's settings (GruSettings, TransformerSettings); None: its defaults
    max_pairs: int | None = None  # first N corpus pairs (shortest first); None = all
    validation_fraction: float = 0.02  # share of distinct English sentences held out
    test_fraction: float = 0.02  # share of distinct English sentences for the test split
    seed: int = 1234  # split, shuffle and initialisation seed
    max_tokens: int = 40  # longer training pairs are dropped; also the source truncation length
    tokenizer: str = "word"  # "word": whole words; "wordpiece": subword pieces (seqlib/data/subwords.py)
    source_vocab_size: int = 12000  # English tokens (words or pieces), with padding and [UNK]
    target_vocab_size: int = 16000  # French tokens (words or pieces), with padding, [UNK], [START], [END]
    min_count: int = 2  # tokens seen fewer times are [UNK]: once-seen words do not train
    dropout_rate: float = 0.2  # after embeddings and before the output layer (and inside transformer blocks)
    label_smoothing: float = 0.0  # share of the target spread over the vocabulary (seqlib/models/losses.py)
    batch_size: int = 128  # pairs a step
    learning_rate: float = 2e-3  # Adam
    epochs: int = 20  # upper bound; --time-budget usually ends cpu runs first
    steps_per_epoch: int | None = None  # at most this many steps an epoch; None = one pass over the training pairs
    precision: str = "float32"  # "auto" (from the hardware), or float32, mixed_bfloat16, mixed_float16 (seqlib/precision.py)
    jit_compile: bool = False  # XLA for the training step

    def __post_init__(self):
        # Refused when the config is made, before a run directory is touched.
        if self.tokenizer not in TOKENIZERS:
            raise SeqlibError(f"unknown tokenizer {self.tokenizer!r}: choose one of {', '.join(TOKENIZERS)}")
        check_precision(self.precision)
        if not 0 <= self.label_smoothing < 1:
            raise SeqlibError(f"label_smoothing must be at least 0 and below 1, got {self.label_smoothing:g}")
        if not 0 <= self.dropout_rate < 1:
            raise SeqlibError(f"dropout_rate must be at least 0 and below 1, got {self.dropout_rate:g}")
        if not 0 < self.learning_rate < math.inf:
            raise SeqlibError(f"learning_rate must be a positive number, got {self.learning_rate:g}")
        counts = ("batch_size", "epochs", "source_vocab_size", "target_vocab_size", "max_tokens", "min_count")
        check_at_least_one(self, counts + ("max_pairs", "steps_per_epoch"))
        for name in ("validation_fraction", "test_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise SeqlibError(f"{name} must be at least 0 and below 1, got {getattr(self, name):g}")
        if self.validation_fraction + self.test_fraction >= 1:
            raise SeqlibError("validation_fraction and test_fraction together must leave some pairs to train on")
        settings_type = family(self.arch).settings
        if self.model is None:
            object.__setattr__(self, "model", settings_type())
        elif not isinstance(self.model, settings_type):
            raise SeqlibError(f"a {self.arch} config needs {settings_type.__name__}, got {type(self.model).__name__}")

    def replace(self, **changes):
        """A copy with some settings changed; the family's own (units, attention, ...) are named
        like the shared ones: `config.replace(units=64, epochs=1)`."""
        family_fields = {field.name for field in dataclasses.fields(self.model)}
        own = {key: value for key, value in changes.items() if key in family_fields}
        shared = {key: value for key, value in changes.items() if key not in family_fields}
        if "arch" in shared and shared["arch"] != self.arch:
            raise SeqlibError("a config's arch cannot be replaced; take the other family's preset with get_preset(name, arch)")
        unknown = sorted(set(shared) - {field.name for field in dataclasses.fields(self)})
        if unknown:
            raise SeqlibError(
                f"{', '.join(unknown)}: not a setting of a {self.arch} config "
                f"(its own: {', '.join(sorted(family_fields))}; see seqlib/config.py for the shared ones)"
            )
        model = dataclasses.replace(self.model, **own) if own else self.model
        return dataclasses.replace(self, model=model, **shared)

    def to_dict(self):
        """The settings as config.json stores them: the family's own under "model"."""
        return dataclasses.asdict(self)

    def settings(self):
        """Every setting in one flat dict (shared and the family's own), for logs and comparisons."""
        values = self.to_dict()
        return {**{key: value for key, value in values.items() if key != "model"}, **values["model"]}

    @classmethod
    def from_dict(cls, values):
        """The inverse of to_dict; also reads the flat layout of run formats 1 and 2, where the
        family's settings stood beside the shared ones (and the other family's sat unused)."""
        values = dict(values)
        # Runs made before the precision choice said only whether they used float16.
        if "mixed_precision" in values:
            values.setdefault("precision", "mixed_float16" if values.pop("mixed_precision") else "float32")
        settings_type = family(values.get("arch", "gru")).settings
        shared_fields = {field.name for field in dataclasses.fields(cls)}
        own_fields = {field.name for field in dataclasses.fields(settings_type)}
        if "model" in values:
            model_values = values.pop("model")
        else:
            every_family_field = {field.name for one in FAMILIES.values() for field in dataclasses.fields(one.settings)}
            model_values = {key: values[key] for key in own_fields if key in values}
            if values.get("attention", True) is False and "attention" not in own_fields:
                raise SeqlibError(f"attention=False is for arch 'gru'; a {values.get('arch')} config cannot turn it off")
            values = {key: value for key, value in values.items() if key not in every_family_field - shared_fields}
        unknown = sorted(set(values) - shared_fields)
        if unknown:
            raise SeqlibError(f"config has unknown fields {unknown}: was it written by a newer seqlib?")
        unknown = sorted(set(model_values) - own_fields)
        if unknown:
            raise SeqlibError(f"config's {values.get('arch', 'gru')} settings have unknown fields {unknown}")
        return cls(**values, model=settings_type(**model_values))


# Settings `--set` may not change: the preset's name, and the family (train's --arch chooses it).
NOT_SETTABLE = ("name", "arch", "model")


def setting_from_text(config, text):
    """`train --set NAME=VALUE`: (name, value) with the value typed like the setting it
    changes, one of `config`'s shared settings or its family's own (`num_heads=2`,
    `tie_embeddings=true`, `max_pairs=none`). Pure Python, so it is checked before
    TensorFlow loads."""
    name, equals, value = text.partition("=")
    name = name.strip().replace("-", "_")
    kinds = typing.get_type_hints(type(config)) | typing.get_type_hints(type(config.model))
    fields = {field.name for field in dataclasses.fields(config) if field.name not in NOT_SETTABLE}
    fields |= {field.name for field in dataclasses.fields(config.model)}
    if not equals or not name:
        raise SeqlibError(f"--set {text}: write NAME=VALUE, e.g. --set num_heads=2")
    if name in NOT_SETTABLE:
        raise SeqlibError(f"--set {text}: {name} cannot be set; choose the preset with --config and the family with --arch")
    if name not in fields:
        others = [other for other, one in FAMILIES.items() if name in {field.name for field in dataclasses.fields(one.settings)}]
        hint = f" (it is a {' and '.join(others)} setting: give --arch {others[0]})" if others else ""
        raise SeqlibError(
            f"--set {text}: {name} is not a setting of a {config.arch} config{hint}; its settings: {', '.join(sorted(fields))}"
        )
    try:
        return name, _typed(kinds[name], value.strip())
    except ValueError:
        raise SeqlibError(f"--set {text}: {name} takes {_type_name(kinds[name])}, not {value.strip()!r}") from None


def _typed(kind, value):
    """`value` (text) as a `kind`: bool, int, float, str, or one of them | None."""
    options = typing.get_args(kind) or (kind,)
    if type(None) in options and value.lower() == "none":
        return None
    kind = next(option for option in options if option is not type(None))
    if kind is bool:
        if value.lower() not in ("true", "false"):
            raise ValueError(value)
        return value.lower() == "true"
    return kind(value)


def _type_name(kind):
    options = typing.get_args(kind) or (kind,)
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text", type(None): "none"}
    return " or ".join(names.get(option, str(option)) for option in options)


PRESET_NAMES = ("tiny", "cpu", "gpu")

# What every family's preset of a name shares: data, vocabularies, batches, budgets.
# Each family's sizes (and any shared setting it changes) are in its *_settings.py.
TRAINING_PRESETS = {
    # Seconds on a laptop CPU: tests and notebook CI.
    "tiny": dict(
        tokenizer="wordpiece",
        max_pairs=3000,
        validation_fraction=0.05,
        test_fraction=0.05,
        max_tokens=12,
        source_vocab_size=1000,
        target_vocab_size=1200,
        min_count=1,
        dropout_rate=0.0,
        # The same numbers on every machine, for tests and notebooks; a model this small
        # spends its time in per-step overheads that a 16-bit type does not shorten.
        precision="float32",
        batch_size=64,
        learning_rate=3e-3,
        epochs=3,
    ),
    # A useful translator on 2 CPU cores in 20–30 minutes. Output-layer size dominates
    # CPU time, so the vocabularies are 4,000 WordPiece pieces: at 1,200 s on 2 AVX2 cores
    # they beat 8,000 words (41.3 against 40.0 greedy BLEU on the test split, README
    # "Subwords"): a smaller output layer, so more steps in the same time.
    # Large batches keep both cores busy. An "epoch" is 300 steps (4–6 minutes here) so
    # checkpoints and --time-budget stay fine-grained. No dropout: in 20 minutes on 2 cores
    # a model sees the training pairs about twice, too few times to overfit them, and
    # dropout 0.1 only slowed both families (1,200 s, test split, greedy / beam 4 BLEU:
    # GRU 42.0 / 44.7 against 41.3 / 43.4, transformer 39.0 / 40.9 against 34.3 / 35.8;
    # README "A small-data recipe").
    "cpu": dict(
        tokenizer="wordpiece",
        source_vocab_size=4000,
        target_vocab_size=4000,
        dropout_rate=0.0,
        precision="auto",
        batch_size=256,
        epochs=40,
        steps_per_epoch=300,
    ),
    # The full corpus on a Colab T4/L4/A100. An "epoch" is 300 steps (about half the
    # corpus) so checkpoints and --time-budget stay fine-grained; 30 of them are about
    # 15 passes over the corpus, the old cap. Not yet measured on a GPU: see bench/gpu_check.sh.
    # 8,000 pieces a language: Gowda & May (2020) find 4k-16k best at this corpus size.
    "gpu": dict(
        tokenizer="wordpiece",
        source_vocab_size=8000,
        target_vocab_size=8000,
        batch_size=256,
        learning_rate=1e-3,
        epochs=30,
        steps_per_epoch=300,
        dropout_rate=0.3,
        precision="auto",
    ),
}


def check_training_limits(epochs, time_budget):
    """Refuses fewer than one epoch or a time budget that is not a positive number of
    seconds (pure Python: the command line checks before importing TensorFlow).

    Args:
        epochs: int or None (the preset's).
        time_budget: seconds or None (no budget).
    """
    if epochs is not None and epochs < 1:
        raise SeqlibError(f"--epochs must be at least 1, got {epochs}")
    if time_budget is not None and not time_budget > 0:
        raise SeqlibError(f"--time-budget must be a positive number of seconds, got {time_budget:g}")


def get_preset(name, arch="gru"):
    """Returns the named preset of a model family, or says which names exist."""
    chosen = family(arch)
    if name not in TRAINING_PRESETS:
        raise SeqlibError(f"unknown preset {name!r}: choose one of {', '.join(PRESET_NAMES)}")
    settings, changes = chosen.presets[name]
    return TrainConfig(name=name, arch=arch, model=settings, **(TRAINING_PRESETS[name] | changes))


# Training's learning-rate schedules and tf.distribute strategies, by name: defined here,
# in pure Python, so the command line offers and checks them before importing TensorFlow.
SCHEDULES = ("budget", "constant")
# How text becomes tokens: whole words, or WordPiece subwords.
TOKENIZERS = ("word", "wordpiece")
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
