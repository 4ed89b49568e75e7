.PHONY: demo test lint bench images test-cluster
demo:  ## run broker + predictor + workers + sample producer end to end, then stop
	bash scripts/demo.sh
test:  ## install what is needed, lint, run unit + integration + e2e tests
	bash scripts/test.sh
lint:
	.venv/bin/ruff check .
	.venv/bin/mypy
images:  ## worker, predictor and dev Kafka images FROM the local Debian base (buildah), into the node
	python3 scripts/cluster.py images
test-cluster:  ## single-node Kubernetes (root): the node, then KServe + KEDA + Kafka + the chart, 2,000 products
	python3 scripts/cluster.py build
	python3 scripts/cluster.py build --operators --only kserve keda
	CATMATCH_CLUSTER=1 .venv/bin/python -m pytest -p no:cacheprovider tests/integration/test_cluster_tool_node.py
	CATMATCH_CLUSTER=1 .venv/bin/python -m pytest -p no:cacheprovider tests/cluster
