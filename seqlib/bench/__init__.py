"""`python -m seqlib bench`: seqlib's speed beside the TensorFlow tutorial's model, measured in one run."""
