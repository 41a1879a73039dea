"""Device-polling benchmark: the real server under wrk, on SQLite and on PostgreSQL.

The entry point; the benchmark itself is the package bench/pollbench (`--help` describes it).
"""

import sys

from pollbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
