"""Validates a Compose file against the Compose specification's JSON schema.

Usage: validate_compose.py SCHEMA COMPOSE_FILE — prints each error with its path; exit status 1
when there is one.
"""

import json
import sys

import jsonschema
import yaml


def main() -> int:
    schema_path, compose_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    with open(compose_path, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    # The schema names draft 2019-09 (with a trailing '#', which jsonschema does not resolve).
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    for error in errors:
        path = "/".join(str(p) for p in error.path) or "(top)"
        print(f"{compose_path}: {path}: {error.message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
