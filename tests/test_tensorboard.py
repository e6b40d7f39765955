"""After a tiny training run, TensorBoard's event files hold what the course shows."""

import tensorflow as tf


def summaries(log_dir):
    """{tag: plugin name} of every summary in the event files under log_dir."""
    found = {}
    for path in log_dir.rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found[f"{path.parent.name}/{value.tag}"] = value.metadata.plugin_data.plugin_name
    return found


def test_event_files_hold_scalars_text_images_and_hparams(tiny_run):
    found = summaries(tiny_run / "logs")
    for tag in (
        "train/epoch_loss",
        "train/epoch_masked_accuracy",
        "train/epoch_tokens_per_s",
        "train/epoch_learning_rate",
        "validation/epoch_loss",
        "validation/epoch_masked_accuracy",
        "validation/epoch_bleu",
    ):
        assert tag in found, f"{tag} missing; found {sorted(found)}"
    assert found["translations/sample_translations"] == "text"
    assert found["translations/attention/0"] == "images"
    assert found["translations/validation_sample_bleu"] == "scalars"
    assert any(plugin == "hparams" for plugin in found.values())
