"""Evaluate a demo-model checkpoint on the held-out split and the golden traces.

    python model/recipe/eval.py --model model/weights --heldout model/work/corpus/heldout.jsonl \\
        --golden /work/shared/golden --limit 60 --json model/work/eval.json

Full-trace metrics (greedy generation from the prompt alone, as in the CWM paper), each next to
a trivial baseline that only reads the prompt ("floor": the harness's own three frames, call
``main`` / its return line / return ``None``):

- valid format: the generated text parses with no problem and ends with ``<|end_of_text|>``;
- action exact match: share of ground-truth frames whose event and source line the prediction
  has at the same position;
- state exact match: share of ground-truth call/line frames whose full local state (``..``
  resolved) the prediction has at the same position;
- output correct: the entry's result (its return value, and whether it raised) is right.

Teacher-forced next-frame metrics (one forward pass over the ground truth; a frame's part is
right when every token of it is the greedy choice), next to the "copy previous frame" baseline
(same event and line again, every value ``..``).
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tokenizer import encode_text

from cwm_lsp.backends.decoding import TraceDecoder, TraceIds
from cwm_lsp.backends.line_constraint import flow_constraint
from cwm_lsp.runtime import LoadedModel, load_model
from cwm_lsp.runtime.generate import Sampler, Sampling
from cwm_lsp.runtime.tokenizer import Tokenizer
from cwm_lsp.trace import codec, tokens
from cwm_lsp.trace.frames import UNCHANGED, Event, Frame
from cwm_lsp.trace.parser import parse_trace
from cwm_lsp.trace.resolve import resolve_states


@dataclass
class Case:
    name: str
    context: str
    trace: str


@dataclass
class Tally:
    examples: int = 0
    valid: int = 0
    output_correct: int = 0
    action_hits: int = 0
    action_total: int = 0
    state_hits: int = 0
    state_total: int = 0

    def add(self, other: Tally) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def rates(self) -> dict[str, float]:
        return {
            "valid_format": self.valid / max(1, self.examples),
            "action_exact": self.action_hits / max(1, self.action_total),
            "state_exact": self.state_hits / max(1, self.state_total),
            "output_correct": self.output_correct / max(1, self.examples),
        }


@dataclass
class ForcedTally:
    frames: int = 0
    action: int = 0
    state: int = 0
    whole: int = 0

    def rates(self) -> dict[str, float]:
        n = max(1, self.frames)
        return {"action": self.action / n, "state": self.state / n, "frame": self.whole / n}


@dataclass
class Report:
    model: Tally = field(default_factory=Tally)
    floor: Tally = field(default_factory=Tally)
    first_argument: Tally = field(default_factory=Tally)
    forced_model: ForcedTally = field(default_factory=ForcedTally)
    forced_copy: ForcedTally = field(default_factory=ForcedTally)
    seconds: float = 0.0
    generated_tokens: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "examples": self.model.examples,
            "full_trace": {
                "model": self.model.rates(),
                "floor_baseline": self.floor.rates(),
                "first_argument_baseline": self.first_argument.rates(),
            },
            "teacher_forced_next_frame": {
                "model": self.forced_model.rates(),
                "copy_previous_baseline": self.forced_copy.rates(),
            },
            "generated_tokens": self.generated_tokens,
            "seconds": round(self.seconds, 1),
        }


# --- scoring ----------------------------------------------------------------------------------


def outcome(frames: Sequence[Frame]) -> tuple[str | None, bool] | None:
    """The entry's result: (returned repr, raised?) from the last frames."""
    if not frames or frames[-1].event is not Event.RETURN:
        return None
    raised = len(frames) > 1 and frames[-2].event is Event.EXCEPTION
    return frames[-1].arg, raised


def score_trace(predicted: str, truth: str) -> Tally:
    expected = parse_trace(truth).frames
    parsed = parse_trace(predicted)
    got = parsed.frames
    tally = Tally(examples=1, valid=int(parsed.finished and not parsed.problems))
    tally.action_total = len(expected)
    tally.action_hits = sum(
        1
        for i, frame in enumerate(expected)
        if i < len(got) and got[i].event is frame.event and got[i].line == frame.line
    )
    true_states = resolve_states(expected).frames
    got_states = resolve_states(got).frames if got else []
    for i, resolved in enumerate(true_states):
        if not resolved.frame.has_locals:
            continue
        tally.state_total += 1
        if i < len(got_states) and got_states[i].frame.has_locals:
            tally.state_hits += int(got_states[i].state == resolved.state)
    if parsed.finished:
        tally.output_correct = int(outcome(got) == outcome(expected))
    return tally


def floor_trace(context: str, *, returned: str = "None") -> str:
    """The trivial prediction: the harness is called, runs its return line, returns None
    (or ``returned``)."""
    lines = context.splitlines(keepends=True)
    marked = [i for i, line in enumerate(lines) if tokens.START_OF_TRACE_MARKER in line]
    if not marked or marked[-1] + 1 >= len(lines):
        return tokens.END_OF_TEXT
    def_line, body = lines[marked[-1]], lines[marked[-1] + 1]
    frames = [
        Frame(Event.CALL, def_line, {}),
        Frame(Event.LINE, body, {}),
        Frame(Event.RETURN, body, arg=returned),
    ]
    return codec.encode_trace(frames)


def first_argument_trace(context: str) -> str:
    """The "return the first argument" prediction: the floor's three frames, with the entry
    returning the repr of the harness call's first literal argument (None when there is none)."""
    lines = context.splitlines()
    marked = [i for i, line in enumerate(lines) if tokens.START_OF_TRACE_MARKER in line]
    returned = "None"
    if marked and marked[-1] + 1 < len(lines):
        try:
            statement = ast.parse(lines[marked[-1] + 1].strip()).body[0]
            call = statement.value if isinstance(statement, ast.Return) else None
            if isinstance(call, ast.Call) and call.args:
                returned = repr(ast.literal_eval(call.args[0]))
        except (SyntaxError, ValueError, IndexError):
            pass
    return floor_trace(context, returned=returned)


def copy_previous_scores(truth: str) -> ForcedTally:
    frames = parse_trace(truth).frames
    tally = ForcedTally(frames=len(frames))
    for previous, frame in itertools.pairwise(frames):
        action = previous.event is frame.event and previous.line == frame.line
        state = (
            frame.has_locals
            and previous.has_locals
            and frame.locals == {k: UNCHANGED for k in previous.locals}
        )
        tally.action += int(action)
        tally.state += int(state)
        tally.whole += int(action and state)
    return tally


def forced_scores(model: LoadedModel, tokenizer: Tokenizer, case: Case) -> ForcedTally:
    prompt = tokenizer.encode_prompt(case.context)
    trace = encode_text(tokenizer, case.trace)
    ids = prompt + trace
    with torch.no_grad():
        logits = model.logits(ids)
    guess = logits.argmax(-1).tolist()
    right = [guess[len(prompt) + i - 1] == tok for i, tok in enumerate(trace)]
    frame_sep = tokenizer.special_id(tokens.FRAME_SEP)
    separators = {tokenizer.special_id(t) for t in (tokens.ACTION_SEP, tokens.ARG_SEP)}
    action_sep = tokenizer.special_id(tokens.ACTION_SEP)
    tally = ForcedTally()
    start = 0
    for end, tok in enumerate(trace):
        if tok != frame_sep:
            continue
        span = range(start, end + 1)
        cut = next((i for i in span if trace[i] == action_sep), start)
        has_locals = cut > start + 1
        # action = event token + source line; state = locals (or the return/exception value)
        line_end = next((i for i in range(cut + 1, end + 1) if trace[i] in separators), end)
        action_ids = [start, *range(cut, line_end + 1)]
        state_ids = [i for i in span if i not in action_ids]
        action_ok = all(right[i] for i in action_ids)
        state_ok = all(right[i] for i in state_ids) if (state_ids or has_locals) else True
        tally.frames += 1
        tally.action += int(action_ok)
        tally.state += int(state_ok)
        tally.whole += int(all(right[i] for i in span))
        start = end + 1
    return tally


# --- running ----------------------------------------------------------------------------------


def generate_trace(
    model: LoadedModel, tokenizer: Tokenizer, context: str, limit: int, *, decoder: str = "free"
) -> str:
    """Greedy trace text after the prompt: ``free`` decoding, or ``flow`` (the language
    server's decoder: every frame's line kept on the program's control flow)."""
    if decoder == "flow":
        return _generate_on_flow(model, tokenizer, context, limit)
    stops = [tokenizer.special_id(t) for t in (tokens.END_OF_TEXT, "<|eom_id|>", "<|eot_id|>")]
    ids = list(
        model.generate(tokenizer.encode_prompt(context), max_new_tokens=limit, stop_ids=stops)
    )
    return tokenizer.decode(ids)


def _generate_on_flow(model: LoadedModel, tokenizer: Tokenizer, context: str, limit: int) -> str:
    trace_ids = TraceIds.from_special(tokenizer.special_id)
    constraint = flow_constraint(context, tokenizer)
    session = model.new_session()
    generator = TraceDecoder(
        session, trace_ids, Sampler(Sampling()), max_tokens=limit, constraint=constraint
    )
    ids: list[int] = []
    for frame in generator.frames(tokenizer.encode_prompt(context)):
        ids.extend(frame.ids)
    if generator.outcome.finished and generator.outcome.tokens_generated < limit:
        # The generator stops at the entry's return (or the model's own end token, which it
        # does not keep): the model's next token decides whether the trace ends properly.
        ids.append(int(session.prefill(session.tokens).argmax()))
    return tokenizer.decode(ids)


def heldout_cases(path: Path, limit: int) -> list[Case]:
    cases: list[Case] = []
    with path.open() as f:
        for number, line in enumerate(f):
            if len(cases) >= limit:
                break
            record = json.loads(line)
            name = record.get("name", f"heldout-{number}")
            cases.append(Case(name, record["context"], record["trace"]))
    return cases


def golden_cases(directory: Path) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        cases.append(Case(data["name"], data["context"], data["trace_text"]))
    return cases


def evaluate(
    model: LoadedModel,
    cases: list[Case],
    *,
    max_new_tokens: int,
    verbose: bool = False,
    decoder: str = "free",
) -> Report:
    tokenizer = model.tokenizer
    if tokenizer is None:
        raise SystemExit("error: the checkpoint has no tokenizer")
    report = Report()
    started = time.time()
    for case in cases:
        truth_len = len(encode_text(tokenizer, case.trace))
        limit = min(max_new_tokens, truth_len + truth_len // 2 + 16)
        predicted = generate_trace(model, tokenizer, case.context, limit, decoder=decoder)
        report.generated_tokens += len(tokenizer.encode(predicted))
        scores = score_trace(predicted, case.trace)
        report.model.add(scores)
        report.floor.add(score_trace(floor_trace(case.context), case.trace))
        report.first_argument.add(score_trace(first_argument_trace(case.context), case.trace))
        forced = forced_scores(model, tokenizer, case)
        copy = copy_previous_scores(case.trace)
        for mine, theirs in ((report.forced_model, forced), (report.forced_copy, copy)):
            mine.frames += theirs.frames
            mine.action += theirs.action
            mine.state += theirs.state
            mine.whole += theirs.whole
        if verbose:
            print(f"{case.name}: {json.dumps(asdict(scores))}", flush=True)
    report.seconds = time.time() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("model/weights"))
    parser.add_argument("--heldout", type=Path, default=Path("model/work/corpus/heldout.jsonl"))
    parser.add_argument("--golden", type=Path, default=Path("/work/shared/golden"))
    parser.add_argument("--limit", type=int, default=60, help="held-out examples to run")
    parser.add_argument("--max-new-tokens", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the summary here too")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--decoder",
        choices=("free", "flow"),
        default="free",
        help="free: plain greedy decoding (the model alone); flow: the language server's "
        "decoder, which keeps each frame's line on the program's control flow",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    results: dict[str, object] = {
        "model": model.name,
        "path": str(args.model),
        "decoder": args.decoder,
    }
    if args.heldout.is_file() and args.limit > 0:
        cases = heldout_cases(args.heldout, args.limit)
        results["heldout"] = evaluate(
            model,
            cases,
            max_new_tokens=args.max_new_tokens,
            verbose=args.verbose,
            decoder=args.decoder,
        ).summary()
    if args.golden.is_dir():
        cases = golden_cases(args.golden)
        results["golden"] = evaluate(
            model,
            cases,
            max_new_tokens=args.max_new_tokens,
            verbose=args.verbose,
            decoder=args.decoder,
        ).summary()
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
