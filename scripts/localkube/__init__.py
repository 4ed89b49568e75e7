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
"""
