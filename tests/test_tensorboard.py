"""After a tiny training run, TensorBoard's event files hold what the course shows."""

from seqlib.config import get_preset
from tests.helpers import hparams_records, summaries


def test_event_files_hold_scalars_text_and_images(tiny_run):
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


def test_hparams_are_linked_to_the_validation_curves(tiny_run):
    # At the logs root, the directory holding train/ and validation/: the HParams
    # dashboard reads a trial's metrics from the runs beneath it.
    records = hparams_records(tiny_run / "logs")
    experiments = [record.experiment for record in records if record.HasField("experiment")]
    sessions = [record.session_start_info for record in records if record.HasField("session_start_info")]
    assert len(experiments) == 1 and len(sessions) == 1
    metrics = {(info.name.group, info.name.tag) for info in experiments[0].metric_infos}
    found = summaries(tiny_run / "logs")
    for group, tag in metrics:
        assert f"{group}/{tag}" in found, f"declared metric {group}/{tag} is not written; found {sorted(found)}"
    assert {("validation", "epoch_loss"), ("validation", "epoch_bleu")} <= metrics
    assert sessions[0].hparams["units"].number_value == get_preset("tiny").model.units
    assert "units" in {info.name for info in experiments[0].hparam_infos}


# That a resumed run does not write its hparams again is asserted in test_rundir, on the
# resume of a copied run that test makes anyway (each resume trains another epoch).


def test_train_event_files_hold_the_model_graph(tiny_run):
    # The conceptual (Keras) graph, shown by the Graphs dashboard. Keras 3 writes no op
    # graph (`graph_def` event): its train_function is not a tf.function it can trace.
    assert summaries(tiny_run / "logs").get("train/keras") == "graph_keras_model"
