"""The contract between a model family and everything that serves it.

Each architecture builds a training model `(context, target_in) -> logits`
and, from that model's own layers, a decoder object the translator drives:

    state = decoder.encode(context, max_length)   # once per sentence
    features, state = decoder.step(tokens, state)  # once per generated token
    logits = features @ decoder.projection.kernel + decoder.projection.bias

- `context`: int32 (rows, s), source ids, 0 for padding.
- `max_length`: int32 scalar or None, the most steps the search will take; a
  state that grows with the output (the transformer's key/value cache) is
  allocated for that many. None: the decoder's own maximum (a constant, for XLA).
- `tokens`: int32 (rows,), the previous token of each row ([START] first).
- `state`: a dict of Tensors, each with the rows first, so the search loops can
  drop finished sentences and reorder beams without knowing what is inside.
  It always holds `context` and `attention` float32 (rows, s), the step's
  attention over the source (for plots).
- `features`: float (rows, units), what the vocabulary projection reads; the
  translator applies `projection` itself (forbidden tokens, bfloat16).
- `fixed_keys`: the state entries that are the same for every beam of a
  sentence, which beam search then need not reorder.

The translator, search, export, bench and labs speak only to this contract.
"""

from seqlib.errors import SeqlibError

ARCHITECTURES = ("gru", "transformer")


def check_architecture(name):
    """Refuses an unknown architecture name (pure Python, before TensorFlow loads)."""
    if name not in ARCHITECTURES:
        raise SeqlibError(f"unknown architecture {name!r}: choose one of {', '.join(ARCHITECTURES)}")
    return name


def build_training_model(config, source_vocab_size, target_vocab_size):
    """The training model of config.arch: inputs context (batch, s), target_in (batch, t);
    output logits float32 (batch, t, target_vocab)."""
    check_architecture(config.arch)
    if config.arch == "transformer":
        from seqlib.models import transformer

        return transformer.build_training_model(config, source_vocab_size, target_vocab_size)
    from seqlib.models import gru

    return gru.build_training_model(config, source_vocab_size, target_vocab_size)


def build_decoder(training_model, config, max_length):
    """The decoder object of the contract, sharing the training model's layers.

    max_length: the most tokens a sentence may generate (the transformer's cache length).
    """
    check_architecture(config.arch)
    if config.arch == "transformer":
        from seqlib.models.transformer import TransformerDecoder

        return TransformerDecoder(training_model, max_length)
    from seqlib.models.gru import GruDecoder

    return GruDecoder(training_model, config)


def layer_sizes(training_model, config):
    """(source ids, target ids, units) of a trained model, read from its layers."""
    if config.arch == "transformer":
        from seqlib.models.transformer import TransformerLayers

        layers = TransformerLayers.of(training_model)
        return layers.source_embedding.vocab_size, layers.logits.units, layers.units
    from seqlib.models.gru import GruLayers

    layers = GruLayers.of(training_model)
    return layers.source_embedding.input_dim, layers.logits.units, layers.units
