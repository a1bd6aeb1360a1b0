"""Third-party PRMs (Qwen2.5-Math-PRM style, TRL token classification, Math-Shepherd step tags) on tiny random models
built here: positions checked by hand, values against the raw model's own readout, and the one loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForTokenClassification,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForTokenClassification,
)

from pavlab.errors import PavlabError
from pavlab.testing import char_tokenizer
from pavlab.verifiers.scoring import score_prefixes
from pavlab.verifiers.step_scores import ProcessVerifier
from pavlab.verifiers.third_party import CARD_FILE, ThirdPartyPRM, load_value_model

SIZE = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "max_position_embeddings": 128}


def qwen_prm(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> Qwen2ForTokenClassification:
    torch.manual_seed(seed)
    return Qwen2ForTokenClassification(Qwen2Config(vocab_size=len(tokenizer), num_labels=2, **SIZE)).eval()


def trl_prm(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForTokenClassification:
    torch.manual_seed(seed)
    return LlamaForTokenClassification(LlamaConfig(vocab_size=len(tokenizer), num_labels=2, **SIZE)).eval()


def shepherd_prm(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), **SIZE)).eval()


def save(tmp_path: Path, name: str, model, tokenizer, card: dict | None = None) -> Path:
    folder = tmp_path / name
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if card is not None:
        (folder / CARD_FILE).write_text(json.dumps(card))
    return folder


def assert_reads_positive_probability(prm: ThirdPartyPRM, raw_model, prompt: str, steps: list[str]) -> None:
    """The PRM's values are the raw token-classification model's softmax P(label 1) at the read positions."""
    ids, positions = prm.scoring_inputs(prompt, steps)
    values = score_prefixes(prm, prm.tokenizer, [prompt], [steps])[0]
    raw = raw_model(torch.tensor([ids])).logits[0]
    np.testing.assert_allclose(values, torch.softmax(raw, -1)[positions, 1].detach().numpy(), atol=1e-5)


@pytest.fixture
def qwen_tokenizer() -> PreTrainedTokenizerFast:
    tokenizer = char_tokenizer()
    tokenizer.add_tokens(["<extra_0>"], special_tokens=True)
    return tokenizer


@pytest.fixture
def shepherd_tokenizer() -> PreTrainedTokenizerFast:
    tokenizer = char_tokenizer()
    tokenizer.add_tokens(["ки"])
    return tokenizer


def test_qwen_style_separator_positions_and_softmax_readout(tmp_path, qwen_tokenizer) -> None:
    folder = save(tmp_path, "qwen", qwen_prm(qwen_tokenizer), qwen_tokenizer)
    prm, tokenizer = load_value_model(f"hf-prm:{folder}")
    assert isinstance(prm, ThirdPartyPRM) and prm.card.separator == "<extra_0>" and prm.card.style == \
        "token-classification"
    ids, positions = prm.scoring_inputs("ab", ["x+y", "zz"])
    # <s> a b | x + y <extra_0> z z <extra_0>: the bare prompt at "b" (2), the separators at 6 and 9
    assert positions == [2, 6, 9]
    extra = tokenizer.convert_tokens_to_ids("<extra_0>")
    assert [ids[p] for p in positions[1:]] == [extra, extra]
    assert_reads_positive_probability(prm, qwen_prm(qwen_tokenizer), "ab", ["x+y", "zz"])


def test_trl_style_newline_separator_found_inside_a_merged_token(tmp_path) -> None:
    tokenizer = char_tokenizer(merged=("a\n",))
    folder = save(tmp_path, "trl", trl_prm(tokenizer), tokenizer,
                  {"style": "token-classification", "separator": "\n", "positive_label": 1})
    prm, _ = load_value_model(folder)
    ids, positions = prm.scoring_inputs("c", ["ba", "c"])
    # <s> c | b "a\n" c "\n": step 1 ends inside the merged token "a\n" (3), step 2 at the lone "\n" (5)
    assert positions == [1, 3, 5]
    assert tokenizer.convert_ids_to_tokens([ids[3], ids[5]]) == ["a\n", "\n"]
    assert_reads_positive_probability(prm, trl_prm(tokenizer), "c", ["ba", "c"])


def test_trl_layout_tokenizes_each_step_and_separator_alone_as_trl_trained(tmp_path) -> None:
    tokenizer = char_tokenizer(merged=("a\n",))
    folder = save(tmp_path, "trl", trl_prm(tokenizer), tokenizer)
    prm, _ = load_value_model(f"hf-prm:{folder}")
    assert (prm.card.layout, prm.card.separator) == ("trl", "\n")
    ids, positions = prm.scoring_inputs("c", ["ba", "c"])
    # <s> c | b a \n c \n: "ba" and "\n" tokenized apart never merge into "a\n"; labels at each piece's end
    assert tokenizer.convert_ids_to_tokens(ids) == ["<s>", "c", "b", "a", "\n", "c", "\n"]
    assert positions == [1, 4, 6]
    assert_reads_positive_probability(prm, trl_prm(tokenizer), "c", ["ba", "c"])


def test_system_message_goes_into_the_prm_chat_template(tmp_path, qwen_tokenizer) -> None:
    qwen_tokenizer.chat_template = ("{% for m in messages %}{{ m['role'][0] }} {{ m['content'] }}\n{% endfor %}"
                                    "{% if add_generation_prompt %}a {% endif %}")
    folder = save(tmp_path, "llama", trl_prm(qwen_tokenizer), qwen_tokenizer,  # (a Qwen2 config would reload the
                  {"style": "token-classification", "separator": "<extra_0>", "system": "be exact"})  # char tokenizer
    # as a Qwen2 tokenizer, which drops its spaces and newlines)
    prm, tokenizer = load_value_model(folder)
    ids, positions = prm.scoring_inputs("ab", ["x"])
    prompt = "s be exact\nu ab\na "
    assert tokenizer.decode(ids[:len(prompt)]) == prompt and positions == [len(prompt) - 1, len(prompt) + 1]


def test_math_shepherd_step_tag_reads_plus_against_minus_at_the_tag(tmp_path, shepherd_tokenizer) -> None:
    folder = save(tmp_path, "shepherd", shepherd_prm(shepherd_tokenizer), shepherd_tokenizer)
    prm, tokenizer = load_value_model(f"hf-prm:{folder}")
    assert prm.card.style == "step-tag" and prm.card.tag == "ки"
    ids, positions = prm.scoring_inputs("q", ["ab", "c"])
    # <s> q " " | a b " " ки \n c " " ки \n: prompt template "{prompt} " ends at 2; tags at 6 and 10
    assert positions == [2, 6, 10]
    tag = tokenizer.convert_tokens_to_ids("ки")
    assert [ids[p] for p in positions[1:]] == [tag, tag]
    values = score_prefixes(prm, tokenizer, ["q"], [["ab", "c"]])[0]
    logits = shepherd_prm(shepherd_tokenizer)(torch.tensor([ids])).logits[0]
    plus, minus = tokenizer.convert_tokens_to_ids(["+", "-"])
    expected = torch.softmax(logits[positions][:, [plus, minus]], -1)[:, 0].detach().numpy()
    np.testing.assert_allclose(values, expected, atol=1e-5)


def test_card_file_elsewhere_names_the_folder_and_batches_match_single_rows(tmp_path, qwen_tokenizer) -> None:
    save(tmp_path, "qwen", qwen_prm(qwen_tokenizer, seed=3), qwen_tokenizer)
    card = tmp_path / "cards" / "my-prm.json"
    card.parent.mkdir()
    card.write_text(json.dumps({"style": "token-classification", "model": "../qwen", "separator": "<extra_0>"}))
    verifier = ProcessVerifier.load(card, "bok:4")
    steps = [["x", "yy", "z"], ["x+y"], ["abc", "d"]]
    batched = score_prefixes(verifier.q_pi, verifier.tokenizer, ["ab"] * 3, steps, batch_size=3)
    single = [score_prefixes(verifier.q_pi, verifier.tokenizer, ["ab"], [s])[0] for s in steps]
    for got, want, response in zip(batched, single, steps, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert len(got) == len(response) + 1
    assert batched[0][0] == pytest.approx(batched[1][0], abs=1e-6)  # the bare prompt: one value per prompt


def test_bad_cards_and_folders_are_one_line_errors(tmp_path, qwen_tokenizer) -> None:
    folder = save(tmp_path, "qwen", qwen_prm(qwen_tokenizer), qwen_tokenizer)
    with pytest.raises(PavlabError, match="verifier.json missing.*hf-prm:"):
        load_value_model(folder)
    (folder / CARD_FILE).write_text(json.dumps({"style": "token-classification", "seperator": "x"}))
    with pytest.raises(PavlabError, match="field 'seperator'"):
        load_value_model(folder)
    (folder / CARD_FILE).write_text(json.dumps({"style": "step-tag", "separator": " ки\n", "tag": "kk"}))
    with pytest.raises(PavlabError, match="field 'tag'"):
        load_value_model(folder)
    (folder / CARD_FILE).write_text(json.dumps({"style": "token-classification", "dtype": "bf15"}))
    with pytest.raises(PavlabError, match="field 'dtype'"):
        load_value_model(folder)
    (folder / CARD_FILE).write_text(json.dumps({"style": "token-classification", "dtype": "bfloat16",
                                                "separator": "<extra_0>"}))
    assert next(load_value_model(folder)[0].parameters()).dtype == torch.bfloat16
    (folder / CARD_FILE).write_text(json.dumps({"style": "token-classification", "layout": "openrlhf"}))
    with pytest.raises(PavlabError, match="field 'layout'"):
        load_value_model(folder)
    (folder / CARD_FILE).write_text(json.dumps({"style": "classifier"}))
    with pytest.raises(PavlabError, match="field 'style'"):
        load_value_model(folder)
    with pytest.raises(PavlabError, match="not found"):
        load_value_model(f"hf-prm:{tmp_path / 'nowhere'}")
    (folder / CARD_FILE).unlink()
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling_prm.PRM"}}))
    with pytest.raises(PavlabError, match="code shipped in the folder.*trust_remote_code"):  # never run unasked
        load_value_model(f"hf-prm:{folder}")


def test_eval_verifier_and_rl_rewards_read_a_third_party_prm(tmp_path, qwen_tokenizer) -> None:
    from pavlab.policies.base import ComputeMeter
    from pavlab.rl.config import RLConfig
    from pavlab.rl.scoring import build_outcome, build_prover
    from pavlab.tasks.countdown import CountdownTask
    from pavlab.verifiers.evaluate import EvalVerifierConfig, run_eval_verifier

    spec = f"hf-prm:{save(tmp_path, 'qwen', qwen_prm(qwen_tokenizer), qwen_tokenizer)}"
    rows = [{"problem_id": "a", "prompt": "2 3 4 -> 20", "steps": ["2 + 3 = 5", "5 * 4 = 20"], "correct": True,
             "q_hat": [0.5, 1.0, 1.0]},
            {"problem_id": "b", "prompt": "2 3 4 -> 20", "steps": ["2 * 3 = 6"], "correct": False, "q_hat": [0.5, 0.0]}]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = json.loads(run_eval_verifier(EvalVerifierConfig(verifier=spec, labels=str(tmp_path / "labels.jsonl"),
                                                              out=tmp_path / "eval")).read_text())
    assert metrics["verifier"]["kind"] == "prm" and metrics["calibration"]["states"] == 5

    task, meter = CountdownTask(n_numbers=3, max_number=9), ComputeMeter()
    config = RLConfig(policy="unused", out=tmp_path / "rl", orm=spec, verifier=spec, prover="bok:4", alpha=0.5)
    problems = task.problems("test", 2)
    outcome = build_outcome(config, task, meter)(problems, ["1 + 2 = 3\n", "3 * 3 = 9\n"])
    prover = build_prover(config, task, meter)
    assert prover is not None
    values = prover(problems, [["1 + 2 = 3"], ["3 * 3 = 9", "9 - 1 = 8"]])
    assert outcome.shape == (2,) and np.all((outcome > 0) & (outcome < 1))
    assert [len(v) for v in values] == [2, 3] and meter.verifier_passes > 0


@pytest.mark.parametrize("kind", ["qwen", "shepherd"])
def test_prefix_cache_reads_a_third_party_prm_like_a_full_pass(tmp_path, qwen_tokenizer, shepherd_tokenizer,
                                                               kind) -> None:
    from pavlab.policies.base import ComputeMeter

    tokenizer = qwen_tokenizer if kind == "qwen" else shepherd_tokenizer
    model = qwen_prm(tokenizer) if kind == "qwen" else shepherd_prm(tokenizer)
    verifier = ProcessVerifier.load(f"hf-prm:{save(tmp_path, kind, model, tokenizer)}", "bok:4")
    depth1, depth2 = [["x+y"], ["ab"]], [["x+y", "zz"], ["x+y", "q"], ["ab", "c"]]
    full, cached = ComputeMeter(), ComputeMeter()
    want = verifier.score(["ab"] * 3, depth2, full)
    with verifier.reusing_prefixes():
        verifier.score(["ab"] * 2, depth1, cached)
        before = cached.verifier_tokens
        got = verifier.score(["ab"] * 3, depth2, cached)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.q_pi, w.q_pi, atol=1e-5)
    assert cached.verifier_tokens - before < full.verifier_tokens  # only the new steps were read
