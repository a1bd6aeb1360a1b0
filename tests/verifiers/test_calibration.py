import numpy as np

from pavlab.verifiers.calibration import bootstrap_auc_ci, roc_auc


def test_bootstrap_auc_ci_brackets_the_auc_and_resamples_whole_groups() -> None:
    rng = np.random.default_rng(0)
    positives = rng.random(400) < 0.5
    scores = positives + rng.normal(0, 1.0, 400)
    low, high = bootstrap_auc_ci(scores, positives, resamples=300)
    assert low < roc_auc(scores, positives) < high and high - low < 0.15
    # 40 groups of 10 identical rows: the cluster bootstrap sees 40 draws, so its interval is wider
    grouped = bootstrap_auc_ci(np.repeat(scores[:40], 10), np.repeat(positives[:40], 10),
                               np.repeat(np.arange(40), 10), resamples=300)
    naive = bootstrap_auc_ci(np.repeat(scores[:40], 10), np.repeat(positives[:40], 10), resamples=300)
    assert grouped[1] - grouped[0] > 1.5 * (naive[1] - naive[0])
    assert bootstrap_auc_ci([0.1, 0.2], [True, True]) is None
