"""What the translator asks of a model family's decoder: the GRU's and the transformer's alike.

Three words mean one thing each, in the models, the translator and the search loops:

- a *step* ends in next-token logits: `Translator.step` and the step functions of
  seqlib.decoding.search map `(tokens, state)` to `(logits float32 (rows, vocab), state)`;
- a decoder stops before the vocabulary projection: its `next_features` gives the
  features the logits are projected from, and the translator projects them itself
  (the forbidden tokens ride on the bias; optionally in bfloat16);
- the *attention* weights are an output of their own, never part of the state: beam
  search reorders the state at every step, and only greedy decoding's plots (and
  TensorBoard's images) read the weights.
"""

from typing import Protocol


class Decoder(Protocol):
    """The decoder of one model family, sharing the trained model's layers
    (seqlib.models.registry.build_decoder builds it)."""

    # Keys of the state whose tensors never change and are the same for every beam
    # of a sentence (the encoder's outputs): beam search does not reorder them.
    fixed_keys: tuple
    # The vocabulary projection, a keras.layers.Dense: features (rows, units) -> logits (rows, vocab).
    projection: object

    def encode(self, context, max_length=None):
        """Runs the encoder: context int32 (rows, s) -> the start state.

        The state is a dict of Tensors, the rows first, holding everything per
        sentence the steps read (the encoder's outputs included), so the search
        loops can drop finished rows and reorder beams by gathering it.
        max_length: int32 scalar, the most steps that will follow (the transformer
        sizes its key/value cache by it); None: the decoder's own maximum.
        """

    def next_features(self, tokens, state):
        """One decoder step up to the vocabulary projection.

        Args:
            tokens: int32 (rows,), each row's previous token ([START] first).
            state: the state from `encode` or the previous call.

        Returns:
            features float (rows, units), the next state, and attention float32
            (rows, s): how much the new position looked at each source token.
        """
