"""Mean prover value of a PAV at the prompt and after the last step of sampled responses, beside their accuracy.

Why: a PAV used as an RL reward can be hacked by responses whose text looks like progress; if the
prover values the end states of a policy's (wrong) responses far above their accuracy, the PAV trusts
what the text claims. Usage (samples.jsonl from `pavlab study testbed`):
`python scripts/prover_value_probe.py SAMPLES.jsonl N VERIFIER_DIR PROVER_SPEC`.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from pavlab.verifiers.step_scores import ProcessVerifier


def main(samples: str, count: int, verifier: str, prover: str) -> None:
    torch.set_num_threads(1)
    with open(samples) as handle:
        rows = [json.loads(line) for line in handle][:count]
    pav = ProcessVerifier.load(verifier, prover)
    scores = pav.score([row["prompt"] for row in rows], [row["steps"] for row in rows])
    first = np.mean([float(np.asarray(score.q_mu)[0]) for score in scores])
    last = np.mean([float(np.asarray(score.q_mu)[-1]) for score in scores])
    accuracy = np.mean([row["correct"] for row in rows])
    print(f"{samples}: {len(rows)} responses, accuracy {accuracy:.3f}; mean prover value at the prompt {first:.3f}, "
          f"after the last step {last:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
