"""What TensorBoard shows during training beyond Keras's own scalars:
validation BLEU on a fixed sample, sample translations as text, and attention
heatmaps as images, every epoch; the run's hyper-parameters once."""

import keras
import numpy as np
import sacrebleu
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from seqlib.data.text import normalize_reference
from seqlib.decoding.serving import translate_sentences
from seqlib.evaluation.plots import attention_figure, attention_of, figure_to_png

# The validation curves the HParams dashboard shows beside each run's
# hyper-parameters, as (tag, run, display name). Keras's TensorBoard callback
# writes a logs key as "epoch_" + key, and "val_" keys to the "validation" run
# without their prefix, so this monitor's `val_bleu` becomes validation/epoch_bleu.
HPARAMS_METRICS = (
    ("epoch_loss", "validation", "validation loss"),
    ("epoch_masked_accuracy", "validation", "validation accuracy"),
    ("epoch_bleu", "validation", "validation BLEU"),
)


class TranslationMonitor(keras.callbacks.Callback):
    """Translates a fixed validation sample after each epoch.

    Adds `val_bleu` to the epoch logs (so Keras's TensorBoard callback, placed
    after this one, writes it beside the validation loss) and writes text and
    image summaries to `log_dir/translations`. The run's hyper-parameters go to
    `log_dir` itself once, when training starts on a new run.

    Args:
        translator: a Translator sharing its layers with the model being trained.
        log_dir: pathlib.Path, the run's TensorBoard directory (holding train/ and validation/).
        sources, references: the fixed sample (list of str, list of lists of str).
        config: the TrainConfig to show in the HParams dashboard; None for none.
        text_samples, attention_samples: how many sentences to show as text and as heatmaps.
    """

    def __init__(self, translator, log_dir, sources, references, config=None, text_samples=8, attention_samples=3):
        super().__init__()
        self.translator = translator
        self.log_dir = log_dir
        self.sources = sources
        self.references = [[normalize_reference(r) for r in refs] for refs in references]
        self.config = config
        self.text_samples = text_samples
        self.attention_samples = attention_samples
        self.writer = tf.summary.create_file_writer(str(log_dir / "translations"))

    def on_train_begin(self, logs=None):
        if self.config is not None:
            write_hparams(self.log_dir, self.config)

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


def write_hparams(log_dir, config):
    """Writes a run's hyper-parameters and the metrics they explain to `log_dir`.

    The HParams dashboard takes `log_dir` as one trial and finds its metrics in
    the `validation` run beneath it. A resumed run is the same trial, so nothing
    is written if `log_dir` already holds an event file (TensorBoard would
    otherwise see the trial start again at every resume).

    Args:
        log_dir: pathlib.Path, the run's TensorBoard directory.
        config: TrainConfig; fields set to None are left out.

    Returns:
        True if written, False if the run already had them.
    """
    if any(log_dir.glob("events.out.tfevents.*")):
        return False
    values = {key: value for key, value in config.settings().items() if value is not None}
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hparams_api.hparams_config(
            hparams=[hparams_api.HParam(name) for name in values],
            metrics=[
                hparams_api.Metric(tag, group=group, display_name=name, dataset_type=hparams_api.Metric.VALIDATION)
                for tag, group, name in HPARAMS_METRICS
            ],
        )
        hparams_api.hparams(values)
    writer.close()
    return True
