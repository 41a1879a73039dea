"""The `admittance` command line."""
