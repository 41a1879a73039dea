# Developer recipes. `make` alone lists them.
.PHONY: help serve test fast lint bench bench-bulk
help:  ## list the recipes
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'
serve:  ## install and start the server on SQLite (README command 1)
	./scripts/serve
test:  ## install what the tests need and run the whole suite (README command 2, what CI runs)
	./scripts/test
fast:  ## the inner loop: unit tests only, SQLite only
	.venv/bin/python -m pytest tests/unit -q
lint:  ## ruff, mypy, import contracts
	.venv/bin/ruff check src tests bench && .venv/bin/mypy && .venv/bin/lint-imports
bench:  ## the device polling benchmark (see docs/performance.md)
	.venv/bin/python bench/poll.py
bench-bulk:  ## the bulk import benchmark, 100,000 rows (see docs/performance.md)
	.venv/bin/python bench/bulk.py
