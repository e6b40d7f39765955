"""The transformer: its cache, masks and saving on an untrained model (no training
needed for these truths), then the whole command line on a tiny trained one."""

import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqlib.config import TrainConfig, get_preset
from seqlib.decoding.loading import load_training_model, load_translator
from seqlib.decoding.serving import translate_sentences
from seqlib.errors import SeqlibError
from seqlib.models.registry import build_decoder, build_training_model
from seqlib.rundir import RunDir
from tests.helpers import run_main_here, summaries

CONFIG = TrainConfig(name="test", arch="transformer").replace(units=32, num_layers=2, num_heads=4, feed_forward_dim=48)
SOURCE_VOCAB, TARGET_VOCAB = 40, 50


@pytest.fixture(scope="module", params=[False, True], ids=["untied", "tied_embeddings"])
def model(request):
    """An untrained transformer, with its own output projection or the target embedding as it."""
    keras.utils.set_random_seed(3)
    return build_training_model(CONFIG.replace(tie_embeddings=request.param), SOURCE_VOCAB, TARGET_VOCAB)


def batch(seed=0):
    rng = np.random.default_rng(seed)
    context = rng.integers(1, SOURCE_VOCAB, (3, 7)).astype("int32")
    context[0, 4:] = 0  # a shorter sentence, padded
    target_in = rng.integers(4, TARGET_VOCAB, (3, 6)).astype("int32")
    target_in[:, 0] = 2
    return context, target_in


def logits_of(model, context, target_in):
    return model([tf.constant(context), tf.constant(target_in)], training=False).numpy()


def test_cached_steps_give_the_teacher_forced_logits(model):
    context, target_in = batch()
    decoder = build_decoder(model, CONFIG, max_length=10)
    state = decoder.encode(tf.constant(context))
    steps = []
    for position in range(target_in.shape[1]):
        features, state, attention = decoder.next_features(tf.constant(target_in[:, position]), state)
        steps.append((features @ decoder.projection.kernel + decoder.projection.bias).numpy())
    np.testing.assert_allclose(np.stack(steps, axis=1), logits_of(model, context, target_in), atol=1e-4)
    # The cache holds one written position a step, and the rest is still empty.
    assert int(state["position"][0]) == target_in.shape[1]
    assert np.all(state["keys_0"].numpy()[:, target_in.shape[1] :] == 0)
    # The attention weights are an output of the step, not state for beam search to reorder.
    assert attention.shape == context.shape and "attention" not in state


def test_tied_embeddings_project_with_the_target_embedding():
    keras.utils.set_random_seed(3)
    untied = build_training_model(CONFIG, SOURCE_VOCAB, TARGET_VOCAB)
    tied = build_training_model(CONFIG.replace(tie_embeddings=True), SOURCE_VOCAB, TARGET_VOCAB)
    # One (vocab, units) matrix fewer; the bias stays.
    assert untied.count_params() - tied.count_params() == TARGET_VOCAB * CONFIG.model.units
    projection = build_decoder(tied, CONFIG, max_length=5).projection
    embeddings = tied.get_layer("target_embedding").token_embedding.embeddings
    np.testing.assert_array_equal(projection.kernel.numpy(), embeddings.numpy().T)


def test_cached_attention_without_a_cache_is_multi_head_attention():
    from seqlib.models.cached_attention import CachedMultiHeadAttention

    query = tf.random.stateless_normal([2, 3, 8], seed=[1, 2])
    source = tf.random.stateless_normal([2, 5, 8], seed=[3, 4])
    plain = keras.layers.MultiHeadAttention(2, 4)
    cached = CachedMultiHeadAttention.from_config(plain.get_config())
    plain(query, source), cached(query, source)
    cached.set_weights(plain.get_weights())  # the same variables: a model saved with either loads into the other
    np.testing.assert_allclose(cached(query, source).numpy(), plain(query, source).numpy(), atol=1e-6)
    # Cross-attention from a cache made once: the same output and weights as without it.
    expected, expected_weights = plain(query, source, return_attention_scores=True)
    found, weights, _ = cached(query, None, return_attention_scores=True, cache=cached.project_key_value(source))
    np.testing.assert_allclose(found.numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(weights.numpy(), expected_weights.numpy(), atol=1e-6)


def test_the_causal_mask_hides_later_target_tokens(model):
    context, target_in = batch()
    changed = target_in.copy()
    changed[:, 4:] = 7
    before, after = logits_of(model, context, target_in), logits_of(model, context, changed)
    np.testing.assert_allclose(after[:, :4], before[:, :4], atol=1e-5)
    assert not np.allclose(after[:, 4:], before[:, 4:], atol=1e-3)


def test_source_padding_changes_nothing(model):
    context, target_in = batch()
    padded = np.pad(context, [[0, 0], [0, 5]])
    np.testing.assert_allclose(logits_of(model, padded, target_in), logits_of(model, context, target_in), atol=1e-5)


def test_save_and_load_give_identical_logits(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    context, target_in = batch(1)
    np.testing.assert_array_equal(logits_of(loaded, context, target_in), logits_of(model, context, target_in))


def test_presets_keep_the_transformers_sizes_consistent():
    for name in ("tiny", "cpu", "gpu"):
        config = get_preset(name, "transformer")
        assert config.arch == "transformer" and config.model.units % config.model.num_heads == 0 and config.model.units % 2 == 0
        # The same data, vocabularies and batches as the GRU preset, so the two compare at equal cost.
        gru = get_preset(name)
        for field in ("max_pairs", "max_tokens", "source_vocab_size", "target_vocab_size", "batch_size", "steps_per_epoch"):
            assert getattr(config, field) == getattr(gru, field)


def test_a_transformer_without_attention_is_refused_by_name():
    # Lab 3's switch: the GRU keeps its thought vector, a transformer would keep nothing of the source.
    with pytest.raises(SeqlibError, match="attention: not a setting of a transformer config"):
        get_preset("tiny", "transformer").replace(attention=False)
    # Refused as a config, also one read back from a config.json, before training writes anything:
    # in today's layout (the family's settings under "model") and in the flat one of formats 1 and 2.
    saved = get_preset("tiny", "transformer").to_dict()
    with pytest.raises(SeqlibError, match=r"transformer settings have unknown fields \['attention'\]"):
        TrainConfig.from_dict(saved | {"model": saved["model"] | {"attention": False}})
    flat = {key: value for key, value in saved.items() if key != "model"} | saved["model"]
    with pytest.raises(SeqlibError, match="attention=False is for arch 'gru'"):
        TrainConfig.from_dict(flat | {"attention": False})
    assert TrainConfig.from_dict(flat | {"attention": True, "embedding_dim": 64}) == get_preset("tiny", "transformer")
    assert get_preset("tiny").replace(attention=False).model.attention is False  # the GRU's experiment stays


# ---- a tiny trained transformer, through the command line ---------------------


def test_the_run_says_it_is_a_transformer_and_tensorboard_shows_its_cross_attention(transformer_run):
    from seqlib.models.transformer import TransformerLayers

    saved = json.loads(RunDir(transformer_run).config_file.read_text())
    assert saved["config"]["arch"] == "transformer"
    _, config, model = load_training_model(transformer_run)
    blocks = TransformerLayers.of(model)  # looks each layer up by name: raises if one is missing
    assert config.arch == "transformer" and len(blocks.encoder_blocks) == len(blocks.decoder_blocks) == config.model.num_layers
    assert config.model.num_heads == 2 and all(block.num_heads == 2 for block in blocks.encoder_blocks)  # train --set num_heads=2
    found = summaries(RunDir(transformer_run).logs)
    assert found["translations/attention/0"] == "images" and "validation/epoch_bleu" in found


def test_attention_for_plots_is_the_last_blocks_cross_attention_averaged_over_heads(transformer_translator):
    out = transformer_translator.greedy(tf.constant(["I am cold.", "Go."]), tf.constant(0))
    attention = out["attention"].numpy()
    assert attention.shape[:2] == out["tokens"].shape
    steps = (out["tokens"].numpy() != 0).sum(axis=1)
    for row, taken in enumerate(steps):
        # Each generated token's weights sum to 1 over the source; nothing after the end.
        np.testing.assert_allclose(attention[row, :taken].sum(axis=-1), 1.0, atol=1e-4)
        assert np.all(attention[row, taken:] == 0)


@pytest.mark.parametrize("translator_fixture", ["tiny_translator", "transformer_translator"])
def test_search_equivalences_hold_for_both_architectures(translator_fixture, request):
    translator = request.getfixturevalue(translator_fixture)
    sentences = ["Go.", "I am cold.", "", "Who are you?"]
    greedy = list(translate_sentences(translator, sentences))
    beam_one = list(translate_sentences(translator, sentences, beam_width=1, alpha=0.0))
    assert [h[0][0] for h in greedy] == [h[0][0] for h in beam_one]
    np.testing.assert_allclose([h[0][1] for h in greedy], [h[0][1] for h in beam_one], atol=1e-4)
    for hypotheses in translate_sentences(translator, sentences, beam_width=4, n_best=3):
        scores = [score for _, score in hypotheses]
        assert len(hypotheses) == 3 and scores == sorted(scores, reverse=True)


def test_translate_beam_n_best_evaluate_and_export(transformer_run, transformer_translator, tmp_path):
    done = run_main_here("translate", "--model", transformer_run, "--beam", "4", "--n-best", "3", "I am cold.", "Go.")
    assert done.returncode == 0, done.stderr.decode()
    lines = [line.split("\t") for line in done.stdout.decode().splitlines()]
    assert [index for index, _, _ in lines] == ["0"] * 3 + ["1"] * 3
    assert all(float(first[1]) >= float(second[1]) for first, second in zip(lines, lines[1:]) if first[0] == second[0])

    run_copy = tmp_path / "run"  # evaluate saves its scores in the run: the shared one stays as trained
    shutil.copytree(transformer_run, run_copy)
    done = run_main_here("evaluate", "--model", run_copy, "--limit", "20", "--json")
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["n"] == 20 and result["decoding"] == "greedy"
    assert json.loads((run_copy / "evaluations" / "greedy-first20.json").read_text())["bleu"] == result["bleu"]

    done = run_main_here("export", "--model", transformer_run, "--out", tmp_path / "export")
    assert done.returncode == 0, done.stderr.decode()
    reloaded = tf.saved_model.load(str(tmp_path / "export"))
    text = tf.constant(["I am cold.", "Who are you?", ""])
    assert (
        reloaded.signatures["translate"](text=text)["translation"].numpy().tolist()
        == transformer_translator.translate(text)["translation"].numpy().tolist()
    )
    beam = reloaded.signatures["translate_beam"](text=text, beam_width=tf.constant(3), n_best=tf.constant(2))
    expected = transformer_translator.translate_beam(text, tf.constant(3), tf.constant(2))
    assert beam["translations"].numpy().tolist() == expected["translations"].numpy().tolist()


def test_xla_and_sampling_work_for_the_transformer(transformer_run, transformer_translator):
    xla = load_translator(transformer_run, jit_compile=True)
    text = tf.constant(["Go.", "", "Who are you, my friend?"])
    expected = transformer_translator.greedy(text, tf.constant(0))
    got = xla.greedy(text, tf.constant(0))
    assert got["translations"].numpy().tolist() == expected["translations"].numpy().tolist()
    np.testing.assert_allclose(got["scores"].numpy(), expected["scores"].numpy(), atol=1e-3)
    sampled = transformer_translator.sample(text, tf.constant(0.7), tf.constant(5), tf.constant(1), tf.constant(0))
    assert sampled["translations"].shape == (3, 1) and sampled["translations"].numpy()[1, 0] == b""


def test_a_transformer_run_resumes_within_a_time_budget(transformer_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(transformer_run, run_dir)
    # --arch gru is the run's own setting overridden: the run stays a transformer.
    done = run_main_here("train", "--config", "tiny", "--arch", "gru", "--out", run_dir, "--epochs", "2", "--time-budget", "0.01")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    stderr = done.stderr.decode()
    assert "resuming from epoch 1" in stderr and "arch=gru (run: transformer)" in stderr and "time budget" in stderr
    assert RunDir(run_dir).latest_checkpoint()[0] == 2
    assert load_training_model(run_dir)[1].arch == "transformer"
