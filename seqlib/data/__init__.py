"""Text in: the corpus and its splits, normalisation, vocabularies, and the tf.data pipeline."""
