"""Does the improvement bound order the planted provers as RL does? Spearman of the exact bound sum
against the measured PAV-RL gains of `pavlab study rl-planted` (RESULTS.md section 6).

    python scripts/validate_prover_ranking_rl.py docs/results/rl_planted.json
"""

from __future__ import annotations

import sys

from pavlab.io import read_json
from pavlab.provers.exact import exact_terms_planted
from pavlab.provers.rank import spearman
from pavlab.rl.config import procedural_gamma
from pavlab.tasks.planted import PlantedTask


def main(path: str, base_gamma: float = 5.0, problems: int = 50) -> None:
    arms = read_json(path)["summary"]["arms"]
    pav = {name: row for name, row in arms.items() if row["reward"] == "advantage" and row["alpha"] != 0.0}
    tests = PlantedTask().problems("test", problems, seed=0)
    rows = []
    for name, row in sorted(pav.items(), key=lambda item: procedural_gamma(item[1]["prover"])):
        terms = exact_terms_planted(tests, base_gamma, procedural_gamma(row["prover"]))
        to_half = row.get("samples_to_50")
        speed = 0.0 if to_half is None else 1.0 / to_half  # never reaching 50% ranks last
        rows.append((name, terms.distinguishability + terms.alignment, row["final_accuracy"], speed, to_half))
    print("| prover | bound sum (exact) | final accuracy | samples to 50% |")
    print("|---|---|---|---|")
    for name, bound, accuracy, _, to_half in rows:
        print(f"| {name} | {bound:.5f} | {100 * accuracy:.1f}% | {'never' if to_half is None else f'{to_half:.0f}'} |")
    bounds = [r[1] for r in rows]
    print(f"Spearman(bound, final accuracy) = {spearman(bounds, [r[2] for r in rows]):.2f}; "
          f"Spearman(bound, speed to 50%) = {spearman(bounds, [r[3] for r in rows]):.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
