"""`python -m admittance` runs the CLI."""

from admittance.cli.main import main

main()
