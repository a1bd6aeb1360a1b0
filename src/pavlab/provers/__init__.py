"""Choosing the prover before paying for it: the paper's distinguishability and alignment terms.

`terms` estimates them from Monte Carlo labels, `rank` ranks candidate provers (`rank_provers`,
`choose_prover` for `--prover auto`), and `exact` computes them exactly on the planted task.
"""
