"""The device-polling benchmark behind bench/poll.py, split by concern: see cli.py for the flow.

Run it through the entry point: `.venv/bin/python bench/poll.py --help`.
"""
