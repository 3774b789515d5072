"""JUnit XML (``--format junit``): one testcase per example, classname = module path.

Known failures (in the baseline) are reported as skipped so that CI systems that fail on any
``<failure>`` fail only on new ones.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cwm_lsp.checking.report import TOOL_NAME, Report
from cwm_lsp.checking.runner import FAILED, SKIPPED, CheckResult


def render(report: Report) -> str:
    summary = report.summary()
    counts = {
        "tests": str(summary.total),
        "failures": str(summary.failed),
        "errors": "0",
        "skipped": str(summary.skipped + summary.known),
        "time": f"{report.seconds:.3f}",
    }
    suites = ET.Element("testsuites", {"name": TOOL_NAME, **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": TOOL_NAME, **counts})
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "backend", "value": report.backend})
    ET.SubElement(properties, "property", {"name": "version", "value": report.version})
    for result in report.results:
        _testcase(suite, result)
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _testcase(suite: ET.Element, result: CheckResult) -> None:
    example = result.example
    name = f"{example.function}: {example.call}" if example.function else example.file.relative
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": example.file.module,
            "name": f"{name} (line {example.line})",
            "file": example.file.relative,
            "line": str(example.line),
            "time": f"{result.seconds:.3f}",
        },
    )
    if result.status == SKIPPED:
        ET.SubElement(case, "skipped", {"message": result.skip_reason or "skipped"})
        return
    if result.status != FAILED:
        return
    new = result.new_failures
    if not new:
        rules = ", ".join(failure.rule for failure in result.failures)
        ET.SubElement(case, "skipped", {"message": f"known failure (baseline): {rules}"})
        return
    first = new[0]
    failure = ET.SubElement(case, "failure", {"message": first.message, "type": first.rule})
    details = []
    for item in new:
        details.append(f"[{item.rule}] line {item.line}: {item.message}")
        if item.expected is not None:
            details.append(f"  expected:  {item.expected}")
        if item.predicted is not None:
            details.append(f"  predicted: {item.predicted}")
    failure.text = "\n".join(details)
