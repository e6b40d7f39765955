"""What TensorBoard shows during training beyond Keras's own scalars:
validation BLEU on a fixed sample, sample translations as text, and attention
heatmaps as images, every epoch; the run's hyper-parameters once."""

import keras
import numpy as np
import sacrebleu
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from seqlib.evaluate import normalize_reference
from seqlib.plots import attention_figure, attention_of, figure_to_png
from seqlib.serving import translate_sentences


class TranslationMonitor(keras.callbacks.Callback):
    """Translates a fixed validation sample after each epoch.

    Adds `val_bleu` to the epoch logs (so Keras's TensorBoard callback, placed
    after this one, writes it beside the validation loss) and writes text and
    image summaries to `log_dir/translations`.

    Args:
        translator: a Translator sharing its layers with the model being trained.
        log_dir: the run's TensorBoard directory.
        sources, references: the fixed sample (list of str, list of lists of str).
        text_samples, attention_samples: how many sentences to show as text and as heatmaps.
    """

    def __init__(self, translator, log_dir, sources, references, config=None, text_samples=8, attention_samples=3):
        super().__init__()
        self.translator = translator
        self.sources = sources
        self.references = [[normalize_reference(r) for r in refs] for refs in references]
        self.text_samples = text_samples
        self.attention_samples = attention_samples
        self.writer = tf.summary.create_file_writer(str(log_dir / "translations"))
        if config is not None:
            with self.writer.as_default():
                hparams_api.hparams({key: value for key, value in config.to_dict().items() if value is not None})

    def on_epoch_end(self, epoch, logs=None):
        hypotheses = [hyps[0][0] for hyps in translate_sentences(self.translator, self.sources, batch_size=128)]
        most = max(len(refs) for refs in self.references)
        streams = [[refs[i] if i < len(refs) else None for refs in self.references] for i in range(most)]
        bleu = sacrebleu.metrics.BLEU().corpus_score(hypotheses, streams).score
        if logs is not None:
            logs["val_bleu"] = bleu
        rows = ["| source | reference | translation |", "|---|---|---|"]
        for source, refs, hypothesis in list(zip(self.sources, self.references, hypotheses))[: self.text_samples]:
            rows.append(f"| {source} | {refs[0]} | {hypothesis} |")
        images = []
        for source in self.sources[: self.attention_samples]:
            source_tokens, output_tokens, weights, translation = attention_of(self.translator, source)
            png = figure_to_png(attention_figure(source_tokens, output_tokens, weights, title=f"{source} → {translation}"))
            images.append(tf.image.decode_png(png, channels=3))
        with self.writer.as_default(step=epoch):
            tf.summary.scalar("validation_sample_bleu", bleu)
            tf.summary.text("sample_translations", "\n".join(rows))
            for index, image in enumerate(images):
                tf.summary.image(f"attention/{index}", image[np.newaxis])
        self.writer.flush()
