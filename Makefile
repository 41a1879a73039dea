# Developer recipes. `make` alone lists them.
.PHONY: help serve test inner middle lint bench bench-bulk
help:  ## list the recipes
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'
serve:  ## install and start the server on SQLite (README command 1)
	./scripts/serve
inner:  ## the inner loop (< 30 s): unit and service tests on SQLite, cheap hashing, fake clocks
	.venv/bin/python -m pytest tests/unit tests/service -m "not postgres" -q
middle:  ## the middle loop (< 4 min): every test on SQLite but the browser and end-to-end ones
	.venv/bin/python -m pytest -m "not postgres and not e2e and not browser" -q
test:  ## the full loop: install what the tests need and run the whole suite (README command 2, what CI runs)
	./scripts/test
lint:  ## ruff, mypy, import contracts
	.venv/bin/ruff check src tests bench && .venv/bin/mypy && .venv/bin/lint-imports
bench:  ## the device polling benchmark (see docs/performance.md)
	.venv/bin/python bench/poll.py
bench-bulk:  ## the bulk import benchmark, 100,000 rows (see docs/performance.md)
	.venv/bin/python bench/bulk.py
