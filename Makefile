.PHONY: demo test lint bench
demo:  ## run broker + predictor + workers + sample producer end to end, then stop
	bash scripts/demo.sh
test:  ## install what is needed, lint, run unit + integration + e2e tests
	bash scripts/test.sh
lint:
	.venv/bin/ruff check .
	.venv/bin/mypy
