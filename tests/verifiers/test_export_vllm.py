"""An exported verifier served by the real vLLM engine's pooling runner scores like pavlab (make test-vllm)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from pavlab import testing
from pavlab.verifiers.export import export_verifier
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.positions import build_scoring_inputs
from pavlab.verifiers.scoring import score_prefixes

pytestmark = pytest.mark.vllm


def test_vllm_pooling_runner_serves_the_export_with_pavlab_values(tmp_path, monkeypatch) -> None:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm not installed (make test-vllm installs the CPU engine)")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    tokenizer = testing.char_tokenizer()
    verifier = ValueModel.from_backbone(testing.tiny_llama(tokenizer, hidden=64, heads=2, kv_heads=1, tie=True))
    torch.nn.init.normal_(verifier.value_head.weight, std=1.0)
    torch.nn.init.constant_(verifier.value_head.bias, 0.3)
    verifier.save_pretrained(tmp_path / "verifier", tokenizer)
    export_verifier(tmp_path / "verifier", tmp_path / "hf")
    prompts, steps = ["ab", "c d"], [["x+y", "zz", "1"], ["a.b"]]
    expected = score_prefixes(verifier.eval(), tokenizer, prompts, steps)

    from vllm import LLM

    llm = LLM(model=str(tmp_path / "hf"), runner="pooling", dtype="float32", enforce_eager=True, max_model_len=128,
              gpu_memory_utilization=0.2)
    try:
        for prompt, response, want in zip(prompts, steps, expected, strict=True):
            ids, positions = build_scoring_inputs(tokenizer, prompt, response, "\n")
            out = llm.encode([{"prompt_token_ids": ids}], pooling_task="token_classify")[0]
            # one label: vLLM applies the sigmoid itself, so the served numbers are the values
            np.testing.assert_allclose(out.outputs.data[positions, 0].float().numpy(), want, atol=1e-5)
    finally:
        del llm
