#!/usr/bin/env python3
"""validate.py CRD_DIR FILE: validates every custom resource in the YAML stream FILE against
the CustomResourceDefinitions in CRD_DIR (cert-manager's and trust-manager's own, copied
unchanged), as the API server would:

- the object's apiVersion must be a served version of a CRD for its kind;
- everything but metadata is checked against that version's openAPIV3Schema with jsonschema,
  strictly: a field the schema does not declare is an error (kubectl --validate=strict), unless
  the schema preserves unknown fields or declares additionalProperties;
- metadata: a DNS-1123 name, a namespace exactly when the CRD is namespaced, label values;
- the CRD's CEL rules (x-kubernetes-validations) of the shapes these CRDs use: "exactly / at
  least one of has(self.a), has(self.b), ..." and "!has(self.x) || ...". Any other rule on a
  value the object has is an error, so a rule this script cannot evaluate never passes silently.

Core objects (apiVersion v1) are skipped and named: kubernetes-validate --strict checks them.
Prints one line per object; exits 1 when anything is wrong.
"""
import copy
import glob
import os
import re
import sys

import jsonschema
import yaml

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def load_crds(crd_dir):
    crds = {}
    for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for v in spec["versions"]:
                    if v.get("served"):
                        key = (f"{spec['group']}/{v['name']}", spec["names"]["kind"])
                        crds[key] = (spec["scope"], v["schema"]["openAPIV3Schema"], path)
    return crds


def strict(schema):
    """A copy of `schema` in which objects with declared properties allow no others."""
    s = copy.deepcopy(schema)

    def walk(node):
        if not isinstance(node, dict):
            return
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for k in ("properties", "patternProperties", "definitions"):
            for child in node.get(k, {}).values():
                walk(child)
        for k in ("items", "additionalProperties", "not"):
            if isinstance(node.get(k), dict):
                walk(node[k])
        for k in ("allOf", "anyOf", "oneOf"):
            for child in node.get(k, []):
                walk(child)

    walk(s)
    return s


HAS = re.compile(r"has\(self\.([A-Za-z0-9_]+)\)")


def eval_rule(rule, value):
    """True/False for the rule shapes the CRDs use; None when it cannot be evaluated."""
    r = " ".join(rule.split())
    m = re.fullmatch(r"!has\(self\.([A-Za-z0-9_]+)\) \|\| .*", r)
    if m and isinstance(value, dict):
        return True if m.group(1) not in value else None
    m = re.fullmatch(r"\[(has\(self\.\w+\)(?:, ?has\(self\.\w+\))*)\]\.filter\(x, ?x ?== ?true\)\.size\(\) (==|>=|<=) (\d+)", r)
    if not m:
        m = re.fullmatch(r"((?:\(has\(self\.\w+\) \? 1 : 0\)(?: \+ )?)+) (==|>=|<=) (\d+)", r)
    if m and isinstance(value, dict):
        n = sum(1 for f in HAS.findall(m.group(1)) if f in value)
        want = int(m.group(3))
        return {"==": n == want, ">=": n >= want, "<=": n <= want}[m.group(2)]
    return None


def cel(schema, value, path, errors):
    """Evaluates every x-kubernetes-validations rule on the values the object has."""
    if not isinstance(schema, dict):
        return
    for v in schema.get("x-kubernetes-validations", []):
        ok = eval_rule(v["rule"], value)
        if ok is None:
            errors.append(f"{path}: cannot evaluate CEL rule {v['rule']!r}")
        elif not ok:
            errors.append(f"{path}: {v.get('message', v['rule'])}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k, child in value.items():
            if k in props:
                cel(props[k], child, f"{path}.{k}", errors)
            elif isinstance(schema.get("additionalProperties"), dict):
                cel(schema["additionalProperties"], child, f"{path}.{k}", errors)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, child in enumerate(value):
            cel(schema["items"], child, f"{path}[{i}]", errors)


def check_metadata(obj, scope, errors):
    md = obj.get("metadata") or {}
    name = md.get("name", "")
    if not (0 < len(name) <= 253 and DNS1123_SUBDOMAIN.match(name)):
        errors.append(f"metadata.name {name!r} is not a DNS-1123 subdomain")
    ns = md.get("namespace")
    if scope == "Namespaced" and not ns:
        errors.append("metadata.namespace is missing on a namespaced object")
    if scope == "Cluster" and ns is not None:
        errors.append(f"metadata.namespace {ns!r} on a cluster-scoped object")
    if ns is not None and not (len(ns) <= 63 and DNS1123_LABEL.match(ns)):
        errors.append(f"metadata.namespace {ns!r} is not a DNS-1123 label")
    for k, v in (md.get("labels") or {}).items():
        if not (isinstance(v, str) and len(v) <= 63 and LABEL_VALUE.match(v)):
            errors.append(f"label {k}={v!r} is not a valid label value")
    for k in (md.get("annotations") or {}):
        if not isinstance(md["annotations"][k], str):
            errors.append(f"annotation {k} is not a string")


def main():
    crd_dir, file = sys.argv[1], sys.argv[2]
    crds = load_crds(crd_dir)
    if not crds:
        print(f"no CRDs in {crd_dir}", file=sys.stderr)
        return 1
    failed = 0
    with open(file) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    if not docs:
        print(f"{file}: no objects", file=sys.stderr)
        return 1
    for obj in docs:
        api, kind = obj.get("apiVersion"), obj.get("kind")
        name = (obj.get("metadata") or {}).get("name")
        if api == "v1":
            print(f"skip {api} {kind} {name} (core: kubernetes-validate)")
            continue
        if (api, kind) not in crds:
            print(f"FAIL {api} {kind} {name}: no served CRD version for it")
            failed += 1
            continue
        scope, schema, path = crds[(api, kind)]
        errors = []
        check_metadata(obj, scope, errors)
        body = {k: v for k, v in obj.items() if k != "metadata"}
        body_schema = copy.deepcopy(schema)
        body_schema.get("properties", {}).pop("metadata", None)
        v = jsonschema.Draft7Validator(strict(body_schema))
        for e in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in e.absolute_path) or "(root)"
            errors.append(f"{where}: {e.message}")
        cel(schema, body, "", errors)
        if errors:
            failed += 1
            print(f"FAIL {api} {kind} {name} ({os.path.basename(path)}):")
            for e in errors:
                print(f"  {e}")
        else:
            print(f"ok {api} {kind} {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
