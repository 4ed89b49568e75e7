"""A single-node Kubernetes v1.32 on this machine, built from source: the pieces.

``scripts/cluster.py`` is the command line; ``scripts/kube_apiserver.py`` shares the Go
build code (:mod:`localkube.gobuild`). Standard library only, so the scripts run from any
Python 3.11 without the project's virtualenv.

- :mod:`localkube.paths`   where the caches and the run directory live
- :mod:`localkube.proc`    running commands, starting and stopping processes by PID
- :mod:`localkube.gobuild` Go wrapper modules: replace lines, build, shared caches, timings
- :mod:`localkube.targets` what is built: Kubernetes, CoreDNS, the operators
- :mod:`localkube.host`    apt packages and the host state `up` changes and `down` restores
- :mod:`localkube.pki`     the cluster's certificates, keys and kubeconfigs (openssl)
- :mod:`localkube.render`  config files and flags of every component (pure functions)
- :mod:`localkube.images`  the pause image, the Debian base, the project's images
- :mod:`localkube.node`    up / down / status
- :mod:`localkube.smoke`   the check that a pod answers on a Service and resolves DNS
- :mod:`localkube.upstream` the operators' own manifests, read from their Go modules
- :mod:`localkube.svccerts` serving certificates for webhooks and aggregated APIs (openssl)
- :mod:`localkube.operators` what installing an operator takes: images, apply, bounded waits
- :mod:`localkube.kserve`  KServe's controller (Standard mode), its check
- :mod:`localkube.keda`    KEDA: operator, metrics API server, admission webhooks
- :mod:`localkube.release` the dev Kafka and the chart, installed with helm
- :mod:`localkube.prepare` everything ``make test-cluster`` needs, built once (cached)
"""
