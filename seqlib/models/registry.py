"""The model families, and the one place that chooses between them.

Each family has two modules: `<family>_settings.py` (pure Python: its settings
dataclass and its presets' sizes, read before TensorFlow loads) and `<family>.py`
(its layers), which provides

    build_training_model(config, source_vocab_size, target_vocab_size) -> keras.Model
        inputs context int32 (batch, s) and target_in int32 (batch, t);
        output logits float32 (batch, t, target_vocab)
    build_decoder(training_model, config, max_length) -> the decoder the translator drives
        (its encode/next_features contract: seqlib/models/contract.py)
    layer_sizes(training_model) -> (source ids, target ids, units) read from its layers

Everything else asks this module, by the family's name in `config.arch`; nothing
outside it branches on that name.
"""

import importlib
from dataclasses import dataclass

from seqlib.errors import SeqlibError
from seqlib.models import gru_settings, transformer_settings


@dataclass(frozen=True)
class Family:
    """One model family: its settings type, its presets' sizes and the module of its layers."""

    name: str
    settings: type  # the dataclass of its own settings (TrainConfig.model)
    presets: dict  # preset name -> (settings, the shared TrainConfig settings it changes)
    network: str  # the module with its layers (imports TensorFlow, so loaded on first use)

    def layers_module(self):
        return importlib.import_module(self.network)


FAMILIES = {
    family.name: family
    for family in (
        Family("gru", gru_settings.GruSettings, gru_settings.PRESETS, "seqlib.models.gru"),
        Family(
            "transformer", transformer_settings.TransformerSettings, transformer_settings.PRESETS, "seqlib.models.transformer"
        ),
    )
}
ARCHITECTURES = tuple(FAMILIES)


def family(name):
    """The Family called `name`, or a SeqlibError naming the ones there are (pure Python)."""
    if name not in FAMILIES:
        raise SeqlibError(f"unknown architecture {name!r}: choose one of {', '.join(ARCHITECTURES)}")
    return FAMILIES[name]


def build_training_model(config, source_vocab_size, target_vocab_size):
    """The training model of config.arch: inputs context (batch, s), target_in (batch, t);
    output logits float32 (batch, t, target_vocab)."""
    return family(config.arch).layers_module().build_training_model(config, source_vocab_size, target_vocab_size)


def build_decoder(training_model, config, max_length):
    """The decoder the translator drives, sharing the training model's layers.

    max_length: the most tokens a sentence may generate (the transformer's cache length).
    """
    return family(config.arch).layers_module().build_decoder(training_model, config, max_length)


def layer_sizes(training_model, config):
    """(source ids, target ids, units) of a trained model, read from its layers."""
    return family(config.arch).layers_module().layer_sizes(training_model)


def register_custom_objects():
    """Imports every family's layers, so Keras can deserialize any saved model."""
    for one in FAMILIES.values():
        one.layers_module()
