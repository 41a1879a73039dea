"""The bulk-import benchmark behind bench/bulk.py, split by concern: see cli.py for the flow.

Run it through the entry point: `.venv/bin/python bench/bulk.py --help`. It reuses bench/pollbench
for processes, PostgreSQL, the server and CPU accounting.
"""
