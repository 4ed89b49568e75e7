.PHONY: demo test lint bench images cluster-prepare test-cluster
demo:  ## run broker + predictor + workers + sample producer end to end, then stop
	bash scripts/demo.sh
test:  ## install what is needed, lint, run unit + integration + e2e tests
	bash scripts/test.sh
lint:
	.venv/bin/ruff check .
	.venv/bin/mypy
images:  ## worker, predictor and dev Kafka images FROM the local Debian base (buildah), into the node
	python3 scripts/cluster.py images
cluster-prepare:  ## everything test-cluster needs, built and cached (CI: in the background beside make test)
	nice -n 19 python3 scripts/cluster.py prepare
test-cluster:  ## single-node Kubernetes (root): the node, KServe + KEDA + Kafka + the chart, products, drills
	python3 scripts/cluster.py prepare  # waits for a running cluster-prepare, then finds it all cached
	CATMATCH_CLUSTER=1 .venv/bin/python -m pytest -p no:cacheprovider tests/integration/test_cluster_tool_node.py
	CATMATCH_CLUSTER=1 .venv/bin/python -m pytest -p no:cacheprovider tests/cluster
