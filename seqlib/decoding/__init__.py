"""From a trained model to text: greedy, sampling and beam search, the compiled translator, batched serving, export."""
