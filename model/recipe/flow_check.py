"""Check the static control-flow analysis against recorded traces: no true line may be ruled out.

    python model/recipe/flow_check.py model/work/corpus5/train.jsonl [more.jsonl ...] \\
        [--limit 4000] [--golden /work/shared/golden]

Replays each example's recorded trace through :class:`cwm_lsp.trace.flow_tracker.FlowTracker`
and counts the frames whose line is not among the lines it allows (the flow-constrained decoder
could not have written them). Also prints how many line texts it allows per frame on average
(how tight the constraint is). Exit status 1 when any frame was ruled out.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from cwm_lsp.trace.flow import SourceFlow
from cwm_lsp.trace.flow_tracker import FlowTracker
from cwm_lsp.trace.parser import parse_trace


def check(context: str, trace: str) -> tuple[int, int, int]:
    """(frames ruled out, frames checked, allowed line texts summed over checked frames)."""
    flow = SourceFlow.from_context(context)
    if flow is None:
        return 0, 0, 0
    tracker = FlowTracker(flow)
    ruled_out = checked = allowed_total = 0
    for frame in parse_trace(trace).frames:
        allowed = tracker.allowed(frame.event)
        if allowed is not None:
            checked += 1
            allowed_total += len(allowed)
            ruled_out += frame.line not in allowed
        tracker.advance(frame.event, frame.line)
    return ruled_out, checked, allowed_total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", type=Path, help="JSONL files (context, trace)")
    parser.add_argument("--limit", type=int, default=4000, help="examples per file")
    parser.add_argument("--golden", type=Path, help="also check these golden traces")
    args = parser.parse_args(argv)
    sources: list[tuple[str, list[tuple[str, str]]]] = []
    if args.golden is not None:
        goldens = [json.loads(p.read_text()) for p in sorted(args.golden.glob("*.json"))]
        sources.append((str(args.golden), [(g["context"], g["trace_text"]) for g in goldens]))
    for path in args.corpora:
        with path.open() as f:
            records = [json.loads(line) for line in itertools.islice(f, args.limit)]
        sources.append((str(path), [(r["context"], r["trace"]) for r in records]))
    failed = False
    for name, examples in sources:
        ruled_out = checked = allowed = bad_examples = 0
        for context, trace in examples:
            r, c, a = check(context, trace)
            ruled_out, checked, allowed = ruled_out + r, checked + c, allowed + a
            bad_examples += r > 0
        failed = failed or ruled_out > 0
        print(
            f"{name}: {len(examples)} traces, {checked} frames checked, {ruled_out} ruled out "
            f"({bad_examples} traces); {allowed / max(1, checked):.2f} line texts allowed per frame"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
