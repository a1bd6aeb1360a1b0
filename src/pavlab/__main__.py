"""`python -m pavlab`: the CLI without its console script (an interpreter whose packages were installed
with `--target`, as on an offline GPU machine, has no `pavlab` on its PATH)."""

from pavlab.cli import main

main()
