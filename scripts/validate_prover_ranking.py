"""Does `pavlab prover rank` predict the measured prover ordering? Spearman per budget N.

Usage: python scripts/validate_prover_ranking.py RANKING_JSON SEARCH_PROVERS_JSON
(the outputs of `pavlab prover rank` and `pavlab study search-provers`).
"""

from __future__ import annotations

import sys

from pavlab.io import read_json
from pavlab.provers.rank import spearman


def main() -> None:
    ranking, study = read_json(sys.argv[1]), read_json(sys.argv[2])
    predicted = {score["spec"]: score["total"]["value"] for score in ranking["ranking"]}
    measured = study["summary"]["mean_accuracy"]
    specs = [spec for spec in measured if spec in predicted]
    budgets = sorted(set(study["config"]["budgets"]))
    print("prover  predicted  " + "  ".join(f"acc@N={n}" for n in budgets))
    for spec in specs:
        print(f"{spec:7} {predicted[spec]:9.4f}  " + "  ".join(f"{a:8.3f}" for a in measured[spec]))
    for i, n in enumerate(budgets):
        rho = spearman([predicted[s] for s in specs], [measured[s][i] for s in specs])
        print(f"spearman(predicted, measured accuracy at N={n}): {rho:.2f}")


if __name__ == "__main__":
    main()
