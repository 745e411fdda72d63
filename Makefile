.PHONY: run test lint bench clean

# Start Wharf on its embedded defaults: SQLite and blobs under ./data, jobs in-process,
# superuser `admin` (password from WHARF_ADMIN_PASSWORD, or generated and printed on first start).
run:
	@scripts/venv
	.venv/bin/wharf serve --data-dir ./data

# Install what the tests need, then run the whole suite on SQLite and on PostgreSQL.
test:
	scripts/test

lint:
	@scripts/venv --test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

bench:
	@scripts/venv --test
	.venv/bin/python -m bench

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .coverage
