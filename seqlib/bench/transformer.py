"""The transformer of the same preset beside seqlib's GRU: trained as long on the same pairs, decoding the same sentences."""

from seqlib.bench.decoding import count_parameters, greedy_of, make_translator
from seqlib.bench.training import train_seqlib
from seqlib.config import get_preset


def measure_transformer(preset, sample, seconds, workload, transformer_dir=None):
    """The transformer's figures: parameters, training tokens/s, greedy and beam 4 decoding.

    Its training speed is measured either way; it decodes as the trained run in
    `transformer_dir`, or else as the model just trained.
    """
    config = get_preset(preset, "transformer")
    model, tokens_per_s = train_seqlib(config, sample.source_ids, sample.target_ids, seconds)
    translator = make_translator(transformer_dir, model, config, sample.vocabularies)
    greedy = greedy_of(translator)
    return {
        "decoding_model": transformer_dir or f"{preset} transformer trained {seconds:g} s here",
        "parameters": count_parameters(transformer_dir, model),
        "train_tokens_per_s": round(tokens_per_s),
        "first_call_s": workload.first_call_s(greedy),
        "greedy_batch1_ms": workload.batch1_ms(greedy),
        "greedy_batch_64_sentences_per_s": round(workload.batch64_sentences_per_s(greedy), 1),
        "beam_4_batch_64_sentences_per_s": workload.beam_sentences_per_s(translator, 4),
    }
