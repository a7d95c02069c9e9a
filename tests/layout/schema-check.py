#!/usr/bin/env python3
"""Check repo-layout/schema/ with a real JSON Schema validator (python3-jsonschema):
the example repository's keelson documents validate, and the keelson documents
of the broken corpus that keelson rejects for keys or types are rejected by the
schemas too. Skipped (exit 77) when python3-jsonschema or python3-yaml is absent."""
import glob
import json
import os
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:
    print(f"schema-check: skipped: {e} (install python3-jsonschema and python3-yaml)")
    sys.exit(77)

top = os.environ.get("top_srcdir", ".")
schemas = {}
for kind in ("Repository", "Cluster", "System"):
    with open(os.path.join(top, "repo-layout", "schema", f"{kind.lower()}.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    schemas[kind] = jsonschema.Draft202012Validator(schema)


def keelson_documents(root):
    for path in sorted(glob.glob(os.path.join(root, "**", "*.yaml"), recursive=True)):
        with open(path) as f:
            try:
                docs = list(yaml.safe_load_all(f))
            except yaml.YAMLError:
                continue
        for doc in docs:
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("keelson.dev/"):
                yield os.path.relpath(path, root), doc


failures = 0
checked = 0
for path, doc in keelson_documents(os.path.join(top, "repo-layout", "example")):
    errors = list(schemas[doc["kind"]].iter_errors(doc))
    checked += 1
    for e in errors:
        print(f"schema-check: example {path}: {e.message}")
        failures += 1
if checked != 8:
    print(f"schema-check: expected 8 keelson documents in the example, found {checked}")
    failures += 1

# Documents keelson rejects for keys, types or missing keys: the schemas must agree.
rejected = {
    ("unknown-key", "keelson.yaml"), ("unknown-key", "clusters/prod/cluster.yaml"),
    ("wrong-type", "clusters/prod/cluster.yaml"),
    ("plugin-parameters", "clusters/prod/app/system.yaml"),
    ("plugin-parameters", "clusters/prod/jobs/system.yaml"),
    ("unknown-plugin", "clusters/prod/app/system.yaml"),
    ("ignore-differences", "clusters/prod/app/system.yaml"),
}
for case, path in sorted(rejected):
    root = os.path.join(top, "tests", "layout", "broken", case)
    docs = [d for p, d in keelson_documents(root) if p == path]
    if len(docs) != 1 or schemas[docs[0]["kind"]].is_valid(docs[0]):
        print(f"schema-check: broken/{case}/{path}: the schema accepts what keelson rejects")
        failures += 1

if failures:
    sys.exit(1)
print(f"schema-check: {checked} example documents valid, {len(rejected)} broken documents rejected")
