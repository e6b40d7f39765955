"""The command line (`python -m seqlib VERB`): argument checks before TensorFlow loads, then the verb."""
