import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqlib.config import TrainConfig, get_preset
from seqlib.conventions import START_ID
from seqlib.models.attention import LuongAttention
from seqlib.models.gru import build_inference_models, build_training_model, compile_model
from seqlib.models.losses import MaskedAccuracy, SmoothedMaskedLoss, masked_accuracy, masked_loss, token_cross_entropy

CONFIG = get_preset("tiny")
SOURCE_VOCAB, TARGET_VOCAB = 50, 60


def batch(seed=0, batch_size=8, source_length=7, target_length=6):
    rng = np.random.default_rng(seed)
    context = rng.integers(2, SOURCE_VOCAB, (batch_size, source_length))
    context[: batch_size // 2, source_length - 2 :] = 0
    target = rng.integers(4, TARGET_VOCAB, (batch_size, target_length + 1))
    target[:, 0] = 2
    target[: batch_size // 2, target_length - 2] = 3
    target[: batch_size // 2, target_length - 1 :] = 0
    target = tf.constant(target, tf.int32)
    return tf.constant(context, tf.int32), target[:, :-1], target[:, 1:]


@pytest.fixture
def model():
    keras.utils.set_random_seed(1)
    return build_training_model(CONFIG, SOURCE_VOCAB, TARGET_VOCAB)


def test_untrained_loss_is_about_log_vocab(model):
    context, target_in, target_out = batch()
    loss = float(masked_loss(target_out, model([context, target_in])))
    assert abs(loss - math.log(TARGET_VOCAB)) < 0.1


def test_padding_does_not_change_loss_or_accuracy(model):
    context, target_in, target_out = batch()
    padded_context = tf.pad(context, [[0, 0], [0, 3]])
    padded_in, padded_out = tf.pad(target_in, [[0, 0], [0, 4]]), tf.pad(target_out, [[0, 0], [0, 4]])
    logits = model([context, target_in])
    padded_logits = model([padded_context, padded_in])
    assert float(masked_loss(target_out, logits)) == pytest.approx(float(masked_loss(padded_out, padded_logits)), abs=1e-5)
    assert float(masked_accuracy(target_out, logits)) == pytest.approx(float(masked_accuracy(padded_out, padded_logits)))
    metric = MaskedAccuracy()
    metric.update_state(padded_out, padded_logits)
    assert float(metric.result()) == pytest.approx(float(masked_accuracy(target_out, logits)))


@pytest.mark.parametrize("scale, label_smoothing", [(1.0, 0.0), (60.0, 0.0), (1.0, 0.1), (60.0, 0.1)])
def test_token_cross_entropy_equals_tensorflows_with_its_gradient(scale, label_smoothing):
    # scale 60: most probabilities underflow to 0 in float32, and the loss
    # must still be finite and exact where the target is among them.
    rng = np.random.default_rng(int(scale))
    logits = tf.constant(rng.normal(size=(3, 5, 40)) * scale, tf.float32)
    target_out = tf.constant(rng.integers(0, 40, (3, 5)), tf.int32)
    weights = tf.constant(rng.uniform(size=(3, 5)), tf.float32)  # what the mask and mean pass back

    def loss_and_gradient(loss_fn):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            losses = loss_fn(target_out, logits)
            total = tf.reduce_sum(losses * weights)
        return losses, tape.gradient(total, logits)

    def keras_smoothed(labels, logits):
        one_hot = tf.one_hot(labels, 40)
        return keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True, label_smoothing=label_smoothing)

    losses, gradient = loss_and_gradient(lambda labels, logits: token_cross_entropy(labels, logits, label_smoothing))
    if label_smoothing:
        expected_losses, expected_gradient = loss_and_gradient(keras_smoothed)
    else:
        expected_losses, expected_gradient = loss_and_gradient(
            lambda labels, logits: tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        )
    assert np.isfinite(losses.numpy()).all()
    np.testing.assert_allclose(losses.numpy(), expected_losses.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gradient.numpy(), expected_gradient.numpy(), atol=1e-6)


def test_label_smoothing_is_the_compiled_loss_and_survives_saving(model, tmp_path):
    _, _, target_out = batch()
    compile_model(model, CONFIG.replace(label_smoothing=0.1))
    # Confident and right: plain cross-entropy is near 0, the smoothed one is not.
    logits = tf.one_hot(target_out, TARGET_VOCAB) * 10.0
    assert isinstance(model.loss, SmoothedMaskedLoss)
    smoothed = float(masked_loss(target_out, logits, 0.1))
    assert float(model.loss(target_out, logits)) == pytest.approx(smoothed, rel=1e-6)
    assert float(masked_loss(target_out, logits)) < 0.01 < 0.5 < smoothed
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    assert reloaded.loss.label_smoothing == 0.1


def test_masked_accuracy_ignores_padding():
    target_out = tf.constant([[5, 6, 0, 0]])
    logits = tf.one_hot([[5, 7, 1, 1]], 10)
    assert float(masked_accuracy(target_out, logits)) == pytest.approx(0.5)


def test_tiny_model_overfits_one_batch(model):
    context, target_in, target_out = batch()
    compile_model(model, CONFIG.replace(learning_rate=1e-2))
    history = model.fit((context, target_in), target_out, epochs=60, verbose=0)
    assert history.history["loss"][-1] < 0.1
    assert float(masked_accuracy(target_out, model([context, target_in]))) == 1.0


def test_save_and_load_give_identical_logits(model, tmp_path):
    context, target_in, _ = batch()
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    np.testing.assert_array_equal(model([context, target_in]).numpy(), loaded([context, target_in]).numpy())


def test_decoder_step_matches_training_model(model):
    """One step at a time, fed the teacher-forced tokens, gives the training logits."""
    context, target_in, _ = batch()
    logits = model([context, target_in]).numpy()
    inference = build_inference_models(model, CONFIG)
    encoder_outputs, keys, state = inference.encoder(context)
    for step in range(target_in.shape[1]):
        step_logits, state, weights = inference.decoder_step([target_in[:, step], state, encoder_outputs, keys, context])
        np.testing.assert_allclose(step_logits.numpy(), logits[:, step], atol=1e-4)
    # Attention never looks at source padding.
    assert np.all(weights.numpy()[context.numpy() == 0] == 0)
    np.testing.assert_allclose(weights.numpy().sum(axis=1), 1.0, atol=1e-5)


def test_attention_layer_config_round_trip():
    layer = LuongAttention(name="attention")
    clone = LuongAttention.from_config(layer.get_config())
    assert clone.name == "attention"
    query, keys, values = tf.random.normal([2, 3, 4]), tf.random.normal([2, 5, 4]), tf.random.normal([2, 5, 8])
    tokens = tf.constant([[4, 5, 6, 0, 0], [4, 5, 6, 7, 8]])
    context, weights = clone(query, keys, values, tokens)
    assert context.shape == (2, 3, 8) and weights.shape == (2, 3, 5)


def test_without_attention_the_decoder_reads_the_source_only_through_its_first_state(tmp_path):
    """config.attention=False (lab 3's experiment): the attention layer gives nothing, and
    the model saves and loads that way."""
    config = TrainConfig(name="plain", dropout_rate=0.0).replace(embedding_dim=8, units=16, attention=False)
    plain = build_training_model(config, 30, 40)
    assert not plain.get_layer("attention").enabled
    step = build_inference_models(plain, config).decoder_step
    encoder_outputs = tf.random.normal([2, 5, 32])
    keys = tf.random.normal([2, 5, 16])
    context = tf.constant([[5, 6, 7, 8, 9], [5, 6, 0, 0, 0]])
    inputs = [tf.constant([START_ID, START_ID]), tf.random.normal([2, 16]), encoder_outputs, keys, context]
    logits, _, weights = step(inputs)
    changed, _, _ = step([*inputs[:2], encoder_outputs * 3 + 1, keys * -2, context])
    np.testing.assert_allclose(logits, changed, atol=1e-6)
    assert not np.any(weights)
    plain.save(tmp_path / "plain.keras")
    assert not keras.saving.load_model(tmp_path / "plain.keras", safe_mode=True).get_layer("attention").enabled


def test_no_lambda_layers(model):
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_every_gru_can_take_the_cudnn_kernel(model):
    from seqlib.models.gru import cudnn_eligible

    eligible = cudnn_eligible(model)
    assert len(eligible) == 3 and all(eligible.values()), eligible
