"""`python -m axtrain_cli.cli`: the `axtrain` command."""

from . import main

main()
