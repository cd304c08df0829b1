#!/usr/bin/env python3
"""Validate a fake-discord capture against Discord's OpenAPI spec.

Usage: validate.py CAPTURE.json [SPEC.json]

CAPTURE.json is what `FakeDiscord::write_capture` writes: a list of
{"method", "path", "query", "request_json", "is_multipart", "status", "response_json"}.
SPEC defaults to <repo>/../shared/discord-api-spec/openapi.json (<repo> = two levels above
this file).

For each exchange:
  * `/api/v10/<path>` must match a path template of the spec (literal segments beat `{param}`
    ones, so `messages/@original` is not `messages/{message_id}`), and the method must exist;
  * the request JSON (for multipart: the payload_json part) is validated against the
    operation's requestBody schema;
  * the response JSON is validated against the schema for its status (exact code, then `4XX`
    style ranges, then `default`) when the spec has a JSON schema for it; a 2xx status the
    spec doesn't list is a failure too (e.g. 200 where Discord answers 204).

The spec is OpenAPI 3.1, whose schemas are JSON Schema 2020-12: the whole document is loaded
as one resource and each check is a `$ref` into it.

Two mismatches are accepted on purpose, and nothing else is relaxed:
- serenity sends new-attachment placeholder ids as JSON integers (`"attachments":[{"id":0,...}]`)
  where the spec wants snowflake strings; Discord accepts them. Integer `id`s of objects inside
  `attachments` arrays of a *request* are turned into strings before validation.
- command registration sends `default_member_permissions` as a decimal string (`"32"`), which is
  what Discord's own documentation specifies ("?string" bitfield), while the OpenAPI spec types the
  request field as an integer. Digit-only strings in that field of a *request* become integers.

Prints one line per failure (method, path, where, JSON pointer, message) and a summary line;
exits 1 if anything failed, 0 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

try:
    import jsonschema
    from jsonschema.exceptions import best_match
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012
except ImportError as exc:  # pragma: no cover - environment problem, reported loudly
    print(f"openapi: cannot import jsonschema/referencing ({exc}); pip install jsonschema",
          file=sys.stderr)
    sys.exit(2)

SPEC_URI = "urn:discord:openapi"
API_PREFIX = "/api/v10"
# Routes the fake serves that are not part of the REST API.
FAKE_ONLY = {"/gateway"}
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def default_spec_path() -> Path:
    repo = Path(__file__).resolve().parent.parent.parent
    return repo.parent / "shared" / "discord-api-spec" / "openapi.json"


def escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer(parts) -> str:
    return "/" + "/".join(escape_pointer(str(p)) for p in parts) if parts else ""


class Spec:
    def __init__(self, document: dict):
        self.doc = document
        resource = DRAFT202012.create_resource(document)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self.validators: dict[str, jsonschema.Draft202012Validator] = {}
        # Templates split into segments, for matching.
        self.templates = [(t, t.strip("/").split("/")) for t in document.get("paths", {})]

    def match_path(self, api_path: str) -> str | None:
        """The spec template for a concrete path; literal segments win over parameters."""
        segs = api_path.strip("/").split("/")
        best, best_score = None, None
        for template, tsegs in self.templates:
            if len(tsegs) != len(segs):
                continue
            score = []
            for t, s in zip(tsegs, segs):
                if t.startswith("{") and t.endswith("}"):
                    if not s:
                        break
                    score.append(0)
                elif t == s:
                    score.append(1)
                else:
                    break
            else:
                # Lexicographic: a literal earlier in the path beats one later on.
                if best_score is None or score > best_score:
                    best, best_score = template, score
        return best

    def resolve(self, node: dict, base: str) -> tuple[dict, str]:
        """Follows a local `$ref` (e.g. a response object in components/responses)."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"non-local $ref {ref}")
            base = ref[1:]
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, base

    def validator(self, ptr: str) -> jsonschema.Draft202012Validator:
        v = self.validators.get(ptr)
        if v is None:
            v = jsonschema.Draft202012Validator(
                {"$ref": f"{SPEC_URI}#{ptr}"}, registry=self.registry)
            self.validators[ptr] = v
        return v

    def errors(self, ptr: str, instance) -> list[str]:
        out = []
        for err in self.validator(ptr).iter_errors(instance):
            msg = err.message
            if err.context:
                # anyOf/oneOf: say which branch came closest and why it failed.
                inner = best_match(err.context)
                msg += f" (closest: {pointer(list(inner.absolute_path))}: {inner.message})"
            out.append(f"{pointer(list(err.absolute_path)) or '/'}: {truncate(msg)}")
        return out


def truncate(s: str, n: int = 400) -> str:
    return s if len(s) <= n else s[:n] + "…"


def relax_attachment_ids(value):
    """The accepted mismatches: integer placeholder ids of new attachments, and
    `default_member_permissions` sent as a decimal string."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "default_member_permissions" and isinstance(v, str) and v.isdigit():
                v = int(v)
            if k == "attachments" and isinstance(v, list):
                v = [
                    {**a, "id": str(a["id"])}
                    if isinstance(a, dict) and isinstance(a.get("id"), int)
                    and not isinstance(a.get("id"), bool) else a
                    for a in v
                ]
            out[k] = relax_attachment_ids(v)
        return out
    if isinstance(value, list):
        return [relax_attachment_ids(v) for v in value]
    return value


def json_schema_ptr(content: dict, base: str, media: str) -> str | None:
    entry = (content or {}).get(media)
    if isinstance(entry, dict) and "schema" in entry:
        return f"{base}/content/{escape_pointer(media)}/schema"
    return None


def request_schema_ptr(spec: Spec, op_ptr: str, op: dict, multipart: bool) -> str | None:
    body, base = spec.resolve(op.get("requestBody"), f"{op_ptr}/requestBody")
    if not body:
        return None
    content = body.get("content", {})
    json_ptr = json_schema_ptr(content, base, "application/json")
    if multipart:
        mp_ptr = json_schema_ptr(content, base, "multipart/form-data")
        if mp_ptr:
            schema, resolved = spec.resolve(content["multipart/form-data"]["schema"], mp_ptr)
            if isinstance(schema, dict) and "payload_json" in schema.get("properties", {}):
                return f"{resolved}/properties/payload_json"
        return json_ptr or mp_ptr
    return json_ptr


def response_entry(responses: dict, status: int):
    """(key, response) for a status: exact code, then `4XX`-style range, then `default`."""
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return key, responses[key]
    return None, None


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    capture_path = Path(argv[1])
    spec_path = Path(argv[2]) if len(argv) == 3 else default_spec_path()
    try:
        exchanges = json.loads(capture_path.read_text())
        spec = Spec(json.loads(spec_path.read_text()))
    except (OSError, ValueError) as exc:
        print(f"openapi: {exc}", file=sys.stderr)
        return 2

    failures: list[str] = []
    requests_ok = responses_ok = 0

    def fail(ex: dict, where: str, msg: str) -> None:
        failures.append(f"FAIL {ex.get('method')} {ex.get('path')} [{where}] {msg}")

    for ex in exchanges:
        path = ex.get("path", "")
        method = str(ex.get("method", "")).lower()
        if path in FAKE_ONLY:
            continue
        if not path.startswith(API_PREFIX + "/"):
            fail(ex, "path", f"not under {API_PREFIX}")
            continue
        template = spec.match_path(path[len(API_PREFIX):])
        if template is None:
            fail(ex, "path", "matches no path of the spec")
            continue
        item_ptr = f"/paths/{escape_pointer(template)}"
        item, _ = spec.resolve(spec.doc["paths"][template], item_ptr)
        if method not in HTTP_METHODS or method not in item:
            fail(ex, "path", f"{method.upper()} not in spec for {template}")
            continue
        op_ptr = f"{item_ptr}/{method}"
        op = item[method]

        # Request
        body = ex.get("request_json")
        multipart = bool(ex.get("is_multipart"))
        req_ptr = request_schema_ptr(spec, op_ptr, op, multipart)
        if body is not None:
            if req_ptr is None:
                fail(ex, "request", f"has a JSON body but {template} {method.upper()} takes none")
            else:
                errs = spec.errors(req_ptr, relax_attachment_ids(body))
                for e in errs:
                    fail(ex, "request", e)
                if not errs:
                    requests_ok += 1
        elif req_ptr is not None and not multipart:
            req_body, _ = spec.resolve(op.get("requestBody"), op_ptr)
            if req_body.get("required"):
                fail(ex, "request", "the spec requires a JSON body, none was sent")

        # Response
        status = ex.get("status")
        responses = op.get("responses", {})
        key, resp = response_entry(responses, int(status))
        if resp is None:
            if 200 <= int(status) < 300:
                fail(ex, f"response {status}",
                     f"status not documented (spec lists {sorted(responses)})")
            continue
        resp, resp_base = spec.resolve(resp, f"{op_ptr}/responses/{escape_pointer(key)}")
        resp_ptr = json_schema_ptr(resp.get("content"), resp_base, "application/json")
        if resp_ptr is None:
            if ex.get("response_json") is not None and 200 <= int(status) < 300:
                fail(ex, f"response {status}", "has a JSON body where the spec has none")
            continue
        if ex.get("response_json") is None:
            fail(ex, f"response {status}", "no JSON body where the spec has a schema")
            continue
        errs = spec.errors(resp_ptr, ex["response_json"])
        for e in errs:
            fail(ex, f"response {status}", e)
        if not errs:
            responses_ok += 1

    for f in failures:
        print(f)
    summary = f"{requests_ok} requests and {responses_ok} responses valid"
    if failures:
        print(f"openapi: {len(failures)} failure(s); {summary}")
        return 1
    print(f"openapi: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
