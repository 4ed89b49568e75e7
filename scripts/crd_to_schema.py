"""Convert CustomResourceDefinitions to the JSON schemas of deploy/schemas (offline checks).

    python scripts/crd_to_schema.py CRDS.yaml KIND [KIND ...]

Writes ``deploy/schemas/<group>/<kind>_<version>.json`` for every served version of each
named kind: the CRD's ``openAPIV3Schema`` with objects closed where the CRD lists their
properties (so a misspelled field is an error), open where it preserves unknown fields.
Used for the Istio security kinds (from the Go module istio.io/api: ``go mod download -json
istio.io/api@v1.24.0``, file ``kubernetes/customresourcedefinitions.gen.yaml``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parents[1] / "deploy" / "schemas"


def strict(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: strict(v) for k, v in node.items()}
        preserve = node.get("x-kubernetes-preserve-unknown-fields")
        if node.get("type") == "object" and "properties" in node and not preserve:
            node.setdefault("additionalProperties", False)
        return node
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


def main(argv: list[str]) -> int:
    source, kinds = Path(argv[0]), set(argv[1:])
    for crd in yaml.safe_load_all(source.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        if spec["names"]["kind"] not in kinds:
            continue
        for version in spec["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            props = schema.setdefault("properties", {})
            for key, value in (("apiVersion", "string"), ("kind", "string"),
                               ("metadata", "object")):
                props.setdefault(key, {"type": value})
            path = OUT / spec["group"] / f"{spec['names']['kind'].lower()}_{version['name']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, indent=2) + "\n")
            print(path.relative_to(OUT.parents[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
