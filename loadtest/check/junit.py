"""Verdicts as JUnit XML, so a CI system lists every criterion as a test case.

The document follows the common JUnit schema (the one Jenkins and most CI systems read): ``<testsuites>``
holding one ``<testsuite>`` with ``name``, ``tests``, ``failures``, ``errors``, ``skipped``, ``time``,
``timestamp`` and ``hostname``; one ``<testcase name classname time>`` per criterion; a ``<failure
message type>`` child for a failed criterion and a ``<skipped message>`` child for one that could not be
judged (no data). The suite's ``<system-out>`` holds the verdict table as text.
"""

from __future__ import annotations

import io
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from loadtest.check.verdicts import Verdicts
from loadtest.rundir.documents import FAIL

SUITE_PREFIX = "loadtest.check"


def junit_document(verdicts: Verdicts, *, elapsed_s: float = 0.0, timestamp: datetime | None = None) -> bytes:
    """The JUnit XML document (UTF-8 bytes with an XML declaration)."""
    scenario = verdicts.scenario or "run"
    suite_name = f"{SUITE_PREFIX}.{scenario}"
    when = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    failures = len(verdicts.failed)
    skipped = len(verdicts.unjudged)
    counts = {"tests": str(len(verdicts)), "failures": str(failures), "errors": "0", "skipped": str(skipped),
              "time": f"{elapsed_s:.3f}"}
    root = ET.Element("testsuites", {"name": "loadtest check", **{k: v for k, v in counts.items() if k != "skipped"}})
    suite = ET.SubElement(root, "testsuite", {
        "name": suite_name, **counts, "timestamp": when, "hostname": socket.gethostname() or "localhost", "id": "0",
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("scenario", verdicts.scenario), ("baseline", verdicts.baseline),
                        ("run_dir", verdicts.run_dir), ("outcome", verdicts.outcome)):
        if value:
            ET.SubElement(properties, "property", {"name": name, "value": str(value)})
    seen: dict[str, int] = {}
    for verdict in verdicts:
        name = verdict.case_name or verdict.criterion
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} #{seen[name]}"
        case = ET.SubElement(suite, "testcase", {
            "name": name, "classname": f"{suite_name}.{verdict.kind}", "time": "0",
        })
        summary = f"expected {verdict.expected}, measured {verdict.measured}: {verdict.why}"
        if verdict.verdict == FAIL:
            failure = ET.SubElement(case, "failure", {"message": summary, "type": verdict.kind})
            failure.text = summary
        elif verdict.unjudged:
            ET.SubElement(case, "skipped", {"message": summary})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = summary
    table = io.StringIO()
    verdicts.print_table(table)
    ET.SubElement(suite, "system-out").text = table.getvalue()
    ET.SubElement(suite, "system-err").text = ""
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit(verdicts: Verdicts, path: Path | str, *, elapsed_s: float = 0.0) -> Path:
    """Write the JUnit XML file (atomically); its parent directory is created when needed."""
    from loadtest.atomic import write_atomic

    target = Path(path)
    write_atomic(target, junit_document(verdicts, elapsed_s=elapsed_s))
    return target
