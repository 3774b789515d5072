"""SARIF 2.1.0 (``--format sarif``) for code scanning: one result per failure.

Locations are relative to the repository root (``uriBaseId`` ``%SRCROOT%``). Known failures
(in the baseline) are kept with an external suppression, which viewers show as suppressed.
``partialFingerprints`` carries a hash of the baseline key, which does not change when lines
move.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cwm_lsp.checking.checks import RULES
from cwm_lsp.checking.discovery import Example
from cwm_lsp.checking.report import Report
from cwm_lsp.checking.runner import failures_of

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
ROOT_ID = "%SRCROOT%"


def _rule_name(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("/")[-1].split("-"))


def render(report: Report) -> str:
    rule_ids = list(RULES)
    rules = [
        {
            "id": rule_id,
            "name": _rule_name(rule_id),
            "shortDescription": {"text": RULES[rule_id]},
            "defaultConfiguration": {"level": "error"},
        }
        for rule_id in rule_ids
    ]
    results: list[dict[str, Any]] = []
    for result, failure in failures_of(report.results):
        key = result.key(failure)
        fingerprint = hashlib.sha256(
            json.dumps(key.to_json(), sort_keys=True).encode("utf-8")
        ).hexdigest()
        item: dict[str, Any] = {
            "ruleId": failure.rule,
            "ruleIndex": rule_ids.index(failure.rule),
            "level": "error",
            "message": {"text": failure.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(result.example.file.relative),
                        "region": _region(result.example, failure.line),
                    },
                    "logicalLocations": [
                        {"fullyQualifiedName": result.example.function, "kind": "function"}
                    ]
                    if result.example.function
                    else [],
                }
            ],
            "partialFingerprints": {"prophecyKey/v1": fingerprint},
        }
        if not item["locations"][0]["logicalLocations"]:
            del item["locations"][0]["logicalLocations"]
        if failure.baselined:
            item["suppressions"] = [
                {"kind": "external", "justification": "listed in the trace-check baseline"}
            ]
        results.append(item)
    document = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cwm-lsp trace-check",
                        "version": report.version,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {ROOT_ID: {"uri": _directory_uri(report)}},
                "results": results,
                "properties": {"backend": report.backend},
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _directory_uri(report: Report) -> str:
    uri = report.root.as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _artifact(relative: str) -> dict[str, str]:
    """A location under the root is relative to ``%SRCROOT%``; any other is a file URI."""
    if relative.startswith("/"):
        return {"uri": Path(relative).as_uri()}
    return {"uri": quote(relative), "uriBaseId": ROOT_ID}


def _region(example: Example, line: int) -> dict[str, int]:
    """The failure's line; on the example's own line, from the call's first character."""
    if line == example.line and example.call:
        return {"startLine": line, "startColumn": example.column + 1}
    return {"startLine": line}
