"""Bulk-import benchmark: a 100,000-row manifest imported by the real server, on SQLite and on
PostgreSQL, with pollers running and a same-session reference.

The entry point; the benchmark itself is the package bench/bulkbench (`--help` describes it).
"""

import sys

from bulkbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
