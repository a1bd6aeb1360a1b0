"""A corpus of malformed inputs: each must end in exactly one stderr line naming the file (and line and
field where there is one) with exit code 2, never a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

GOOD_SAMPLE = {"problem_id": "p1", "sample_index": 0, "answer": "7", "correct": True, "generated_tokens": 3}
GOOD_LABEL = {"problem_id": "p1", "prompt": "1 2 3 4 5", "steps": ["3", "4"], "correct": True,
              "q_hat": [0.5, 0.75, 1.0]}
NESTED = "[" * 100_000 + "]" * 100_000


def lines(*rows: object) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def with_(base: dict, **changes: object) -> dict:
    row = {k: v for k, v in base.items() if k not in changes or changes[k] is not ...}
    row.update({k: v for k, v in changes.items() if v is not ...})
    return row


@dataclass(frozen=True)
class Case:
    name: str
    content: str | bytes  # written to the input file `bad` under the case folder
    expect: tuple[str, ...]  # substrings of the one error line ("{bad}" is the file name)


SAMPLE_FILES = [
    Case("broken-json", lines(GOOD_SAMPLE, '{"problem_id": "p1", "correct": tr'), (":2", "malformed JSON")),
    Case("not-an-object", lines(GOOD_SAMPLE, [1, 2]), (":2", "JSON object")),
    Case("missing-correct", lines(with_(GOOD_SAMPLE, correct=...)), (":1", "'correct'")),
    Case("missing-problem-id", lines(with_(GOOD_SAMPLE, problem_id=...)), (":1", "'problem_id'")),
    Case("correct-string", lines(with_(GOOD_SAMPLE, correct="yes")), (":1", "'correct'")),
    Case("correct-int", lines(with_(GOOD_SAMPLE, correct=1)), (":1", "'correct'")),
    Case("correct-nan", lines('{"problem_id": "p", "correct": NaN}'), (":1", "'correct'")),
    Case("answer-list", lines(with_(GOOD_SAMPLE, answer=[1, 2])), (":1", "'answer'")),
    Case("problem-id-object", lines(with_(GOOD_SAMPLE, problem_id={"a": 1})), (":1", "'problem_id'")),
    Case("tokens-string", lines(with_(GOOD_SAMPLE, generated_tokens="many")), (":1", "'generated_tokens'")),
    Case("tokens-huge", lines('{"problem_id": "p", "correct": true, "generated_tokens": 1e400}'),
         (":1", "'generated_tokens'")),
    Case("tokens-negative", lines(with_(GOOD_SAMPLE, generated_tokens=-4)), (":1", "'generated_tokens'")),
    Case("deeply-nested", lines(GOOD_SAMPLE, NESTED), (":2",)),
    Case("not-utf8", b'{"problem_id": "\xff\xfe", "correct": true}\n', ("UTF-8",)),
    Case("binary-garbage", bytes(range(256)) * 4, ("{bad}",)),
    Case("empty", "", ("holds no samples",)),
    Case("blank-lines-only", "\n  \n\n", ("holds no samples",)),
]

LABEL_FILES = [
    Case("q-above-one", lines(with_(GOOD_LABEL, q_hat=[0.5, 1.5, 1.0])), (":1", "'q_hat'")),
    Case("q-below-zero", lines(with_(GOOD_LABEL, q_hat=[-0.1, 0.5, 1.0])), (":1", "'q_hat'")),
    Case("q-string", lines(with_(GOOD_LABEL, q_hat=["0.5", 0.5, 1.0])), (":1", "'q_hat'")),
    Case("q-huge", lines(json.dumps(GOOD_LABEL).replace("0.75", "1e400")), (":1", "'q_hat'")),
    Case("q-nan", lines(json.dumps(GOOD_LABEL).replace("0.75", "NaN")), (":1", "'q_hat'")),
    Case("q-wrong-length", lines(GOOD_LABEL, with_(GOOD_LABEL, q_hat=[0.5])), (":2", "'q_hat'")),
    Case("steps-not-list", lines(with_(GOOD_LABEL, steps="3\n4")), (":1", "'steps'")),
    Case("steps-numbers", lines(with_(GOOD_LABEL, steps=[3, 4])), (":1", "'steps'")),
    Case("missing-prompt", lines(with_(GOOD_LABEL, prompt=...)), (":1", "'prompt'")),
    Case("correct-string", lines(with_(GOOD_LABEL, correct="true")), (":1", "'correct'")),
    Case("counts-half", lines(with_(GOOD_LABEL, n_success=[1, 3, 4])), (":1", "'n_success'")),
    Case("counts-disagree", lines(with_(GOOD_LABEL, n_success=[1, 3, 4], n_rollouts=[4, 4, 4])), (":1", "'q_hat'")),
    Case("broken-json", lines(GOOD_LABEL, GOOD_LABEL, "{oops"), (":3", "malformed JSON")),
    Case("deeply-nested", lines(NESTED), (":1",)),
    Case("not-utf8", b"\xff" * 64, ("UTF-8",)),
]

JSONL_TASK_FILES = [
    Case("broken-json", lines({"question": "1+1", "answer": "2"}, "{"), (":2", "malformed JSON")),
    Case("missing-answer", lines({"question": "1+1"}), (":1", "'answer'")),
    Case("question-list", lines({"question": ["1+1"], "answer": "2"}), (":1", "'question'")),
    Case("answer-null", lines({"question": "1+1", "answer": None}), (":1", "'answer'")),
    Case("not-utf8", b'{"question": "\xc3\x28", "answer": "1"}\n', ("UTF-8",)),
    Case("empty", "", ("holds no problems",)),
    Case("blank-lines-only", "\n\n", ("holds no problems",)),
]

GOOD_PB = {"id": "a", "problem": "1 2 3 -> 5", "steps": ["2 -> 3", "3 -> 0"], "label": -1}
PROCESSBENCH_FILES = [
    Case("empty", "", ("holds no solutions",)),
    Case("label-past-end", lines(GOOD_PB, with_(GOOD_PB, id="b", label=2)), (":2", "'label'")),
    Case("label-string", lines(with_(GOOD_PB, label="-1")), (":1", "'label'")),
    Case("label-bool", lines(with_(GOOD_PB, label=False)), (":1", "'label'")),
    Case("no-steps", lines(with_(GOOD_PB, steps=[])), (":1", "'steps'")),
    Case("missing-problem", lines(with_(GOOD_PB, problem=...)), (":1", "'problem'")),
    Case("duplicate-id", lines(GOOD_PB, GOOD_PB), (":2", "'id'")),
    Case("broken-json", lines(GOOD_PB, "{"), (":2", "malformed JSON")),
]
GOOD_SS_SAMPLE = {"problem_id": "p", "sample_index": 0, "prompt": "1 2 3 -> 5", "steps": ["2 -> 3"], "correct": False}
PB_SAMPLE_FILES = [
    Case("empty", "", ("holds no samples",)),
    Case("steps-string", lines(with_(GOOD_SS_SAMPLE, steps="2 -> 3")), (":1", "'steps'")),
    Case("correct-string", lines(with_(GOOD_SS_SAMPLE, correct="no")), (":1", "'correct'")),
    Case("missing-prompt", lines(with_(GOOD_SS_SAMPLE, prompt=...)), (":1", "'prompt'")),
]
EXCHANGE_FILES = {
    "trl": [Case("empty", "", ("holds no rows",)),
            Case("labels-short", lines({"prompt": "q", "completions": ["a", "b"], "labels": [True]}),
                 (":1", "'labels'")),
            Case("not-utf8", b"\xff\xfe\n", ("UTF-8",))],
    "math-shepherd": [Case("empty", "\n", ("holds no rows",)),
                      Case("no-tag", lines({"input": "q Step 1: a", "label": "q Step 1: a"}), (":1", "'input'")),
                      Case("bad-mark", lines({"input": "q Step 1: a \u043a\u0438", "label": "q Step 1: a *"}),
                           (":1", "'label'"))],
    "soft": [Case("empty", "", ("holds no rows",)),
             Case("value-high", lines({"input": "q Step 1: a \u043a\u0438", "label": [1.5]}), (":1", "'label'"))],
    "prm800k": [Case("empty", "", ("holds no rows",)),
                Case("rating", lines({"question": {"problem": "q"}, "label": {"steps": [
                    {"completions": [{"text": "a", "rating": 5}], "chosen_completion": 0}]}}),
                     (":1", "'label.steps[0].completions[0].rating'"))],
}

RECIPES = [
    Case("unknown-key", "policy: mu:5\nnumber_of_samples: 4\n", ("'number_of_samples'", "unknown field")),
    Case("unknown-nested-key", "policy: mu:5\ntask:\n  name: planted\n  colour: red\n", ("'task.colour'",)),
    Case("wrong-type", "policy: mu:5\nn: lots\n", ("'n'",)),
    Case("negative", "policy: mu:5\nn: -3\n", ("'n'",)),
    Case("nested-wrong-type", "policy: mu:5\ngeneration: 0.7\n", ("'generation'",)),
    Case("bad-yaml", "policy: mu:5\nn: [1, 2\n", ("invalid YAML",)),
    Case("top-level-list", "- policy\n- n\n", ("mapping",)),
    Case("huge-int", "policy: mu:5\nn: " + "9" * 5000 + "\n", ("{bad}",)),
    Case("yaml-tag", "policy: !!python/object/apply:os.system ['true']\n", ("{bad}",)),
    Case("not-utf8", b"policy: \xff\xfe\n", ("{bad}",)),
]


def _copy(policy: Path, model: Path, skip: tuple[str, ...] = ()) -> None:
    shutil.copytree(policy, model, ignore=shutil.ignore_patterns(*skip))


def _pickle_only(policy: Path, model: Path) -> None:
    _copy(policy, model, skip=("*.safetensors",))
    (model / "pytorch_model.bin").write_bytes(b"pickled weights would run code on load")


def _bad_tokenizer(policy: Path, model: Path) -> None:
    from pavlab.policies.testbed_tokenizer import build_number_tokenizer

    _copy(policy, model, skip=("tokenizer*", "special_tokens_map.json"))
    build_number_tokenizer(300, []).save_pretrained(model)  # 600+ tokens for a ~30-token embedding


MODEL_FOLDERS: dict[str, tuple[Callable[[Path, Path], None], tuple[str, ...]]] = {
    "empty-folder": (lambda policy, model: model.mkdir(), ("config.json",)),
    "pickle-weights-only": (_pickle_only, ("safetensors",)),
    "no-config": (lambda p, m: _copy(p, m, skip=("config.json",)), ("config.json",)),
    "no-tokenizer": (lambda p, m: _copy(p, m, skip=("tokenizer*", "special_tokens_map.json")), ("tokenizer",)),
    "corrupt-weights": (lambda p, m: (_copy(p, m), (m / "model.safetensors").write_bytes(b"\0" * 100)),
                        ("model",)),
    "corrupt-config": (lambda p, m: (_copy(p, m), (m / "config.json").write_text("{not json")), ("{model}",)),
    "mismatched-tokenizer": (_bad_tokenizer, ("tokenizer",)),
}

COMMANDS: dict[str, tuple[list[Case], Callable[[Path, dict[str, Path]], list[str]]]] = {
    "eval": (SAMPLE_FILES, lambda d, fx: ["eval", str(d / "bad")]),
    "train-verifier": (LABEL_FILES, lambda d, fx: [
        "train-verifier", "--labels", str(d / "bad"), "--tokenizer", str(fx["policy"]), "--steps", "1",
        "--scratch.hidden_size", "8", "--scratch.num_layers", "1", "--scratch.num_heads", "1",
        "--scratch.intermediate_size", "8", "--out", str(d / "out")]),
    "eval-verifier": (LABEL_FILES, lambda d, fx: [
        "eval-verifier", "--verifier", str(fx["verifier"]), "--labels", str(d / "bad"), "--out", str(d / "out")]),
    "prover-rank": (LABEL_FILES, lambda d, fx: ["prover", "rank", "--labels", str(d / "bad"),
                                                "--resamples", "2", "--out", str(d / "out")]),
    "jsonl-task": (JSONL_TASK_FILES, lambda d, fx: [
        "sample", "--task.name", "jsonl", "--task.path", str(d / "bad"), "--task.grader", "exact",
        "--policy", str(fx["policy"]), "--problems", "1", "--n", "1", "--out", str(d / "out.jsonl")]),
    "label-jsonl-task": (JSONL_TASK_FILES, lambda d, fx: [
        "label", "--task.name", "jsonl", "--task.path", str(d / "bad"), "--task.grader", "exact",
        "--policy", str(fx["policy"]), "--problems", "1", "--n_cov", "1", "--n_mc", "1", "--out", str(d / "out")]),
    "eval-verifier-processbench": (PROCESSBENCH_FILES, lambda d, fx: [
        "eval-verifier", "--verifier", str(fx["verifier"]), "--processbench", str(d / "bad"), "--out", str(d / "out")]),
    "processbench-build": (PB_SAMPLE_FILES, lambda d, fx: [
        "processbench", "build", "--task", "subset_sum", "--samples", str(d / "bad"), "--out", str(d / "pb.jsonl")]),
    **{f"labels-import-{fmt}": (cases, lambda d, fx, fmt=fmt: [
        "labels", "import", "--format", fmt, "--file", str(d / "bad"), "--out", str(d / "labels.jsonl")])
       for fmt, cases in EXCHANGE_FILES.items()},
    "--config": (RECIPES, lambda d, fx: ["sample", "--config", str(d / "bad"), "--out", str(d / "out.jsonl")]),
}

CORPUS = [pytest.param(command, case, id=f"{command}:{case.name}")
          for command, (cases, _) in COMMANDS.items() for case in cases]
TRIED: list[str] = []


VERIFIER_FOLDERS: dict[str, tuple[Callable[[Path, Path], None], tuple[str, ...]]] = {
    "pickle-weights-only": (lambda v, m: (_copy(v, m, skip=("model.safetensors",)),
                                          (m / "pytorch_model.bin").write_bytes(b"pickle")), ("{model}",)),
    "corrupt-weights": (lambda v, m: (_copy(v, m), (m / "model.safetensors").write_bytes(b"\0" * 64)), ("{model}",)),
    "corrupt-head": (lambda v, m: (_copy(v, m), (m / "value_head.safetensors").write_bytes(b"{}")), ("value_head",)),
    "no-verifier-json": (lambda v, m: _copy(v, m, skip=("verifier.json",)), ("verifier.json",)),
}


def assert_one_line_error(code: int, err: str, expect: tuple[str, ...], **names: str) -> None:
    assert code == 2, f"exit {code}, stderr: {err}"
    assert "Traceback" not in err
    error_lines = err.strip().splitlines()
    assert len(error_lines) == 1, err
    for piece in expect:
        assert piece.format(**names) in error_lines[0], (piece, error_lines[0])


@pytest.fixture
def fx(policy_dir: Path, verifier_dir: Path) -> dict[str, Path]:
    return {"policy": policy_dir, "verifier": verifier_dir}


@pytest.mark.parametrize(("command", "case"), CORPUS)
def test_malformed_file(command: str, case: Case, tmp_path: Path, fx: dict[str, Path], pavlab: Callable) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode())
    code, _, err = pavlab(*COMMANDS[command][1](tmp_path, fx))
    TRIED.append(f"{command}:{case.name}")
    assert_one_line_error(code, err, ("{bad}", *case.expect), bad=str(bad))


@pytest.mark.parametrize("name", sorted(MODEL_FOLDERS))
def test_bad_model_folder(name: str, tmp_path: Path, policy_dir: Path, pavlab: Callable) -> None:
    make, expect = MODEL_FOLDERS[name]
    model = tmp_path / "model"
    make(policy_dir, model)
    code, _, err = pavlab("sample", "--task.name", "planted", "--policy", str(model), "--problems", "1", "--n", "1",
                          "--generation.max_new_tokens", "4", "--out", str(tmp_path / "s.jsonl"))
    TRIED.append(f"model:{name}")
    assert_one_line_error(code, err, ("{model}", *expect), model=str(model))


@pytest.mark.parametrize("name", sorted(VERIFIER_FOLDERS))
def test_bad_verifier_folder(name: str, tmp_path: Path, verifier_dir: Path, pavlab: Callable) -> None:
    make, expect = VERIFIER_FOLDERS[name]
    model = tmp_path / "verifier"
    make(verifier_dir, model)
    labels = tmp_path / "labels.jsonl"
    labels.write_text(lines(GOOD_LABEL))
    code, _, err = pavlab("eval-verifier", "--verifier", str(model), "--labels", str(labels), "--out",
                          str(tmp_path / "out"))
    TRIED.append(f"verifier:{name}")
    assert_one_line_error(code, err, expect, model=str(model))


def test_valid_unicode_is_accepted(tmp_path: Path, pavlab: Callable) -> None:
    """The strictness above must not reject legitimate non-ASCII content."""
    path = tmp_path / "samples.jsonl"
    path.write_text(lines(with_(GOOD_SAMPLE, problem_id="数学-🙂", answer="∞ \u202e"),
                          with_(GOOD_SAMPLE, problem_id="数学-🙂", answer="x", correct=False), ""), encoding="utf-8")
    code, out, err = pavlab("eval", "--json", str(path))
    assert code == 0, err
    assert json.loads(out)["pass@2"] == 1.0


def test_zz_corpus_summary() -> None:
    """Runs last in this module: prints how many malformed inputs were tried (see RELIABILITY.md)."""
    print(f"\nmalformed inputs tried: {len(TRIED)} (all one-line errors, exit 2)")
    assert len(TRIED) >= 50 or not TRIED
