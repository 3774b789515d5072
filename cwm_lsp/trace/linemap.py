"""Map each frame's source line text to a 1-based line number of the trace context.

Frames carry line *text*, not numbers, and a context often has identical lines (two
``return None``, the same loop in two functions). The mapping narrows the candidates in steps:

1. Every scope (one invocation, see :mod:`cwm_lsp.trace.resolve`) is tied to a :class:`CodeBlock`
   of the context: the function, class body, lambda or comprehension whose header line is the
   call frame's line. Blocks come from ``ast`` when the context parses, otherwise from
   indentation (``def``/``class`` lines). When several blocks share the header text, the one
   whose lines contain most of the scope's line texts wins.
2. A scope's lines must lie in its block, outside the bodies of functions nested in it.
3. Among the remaining candidates, the most plausible path through the scope's frames is chosen
   (a small Viterbi search): moving forward is cheap, jumping back to a loop header that encloses
   the previous line is cheap, other backward jumps are dear, and a return or exception frame
   normally stays on the line being run.

Lines that cannot be found are reported as :class:`LineMapProblem` and mapped to ``None``.
"""

from __future__ import annotations

import ast
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cwm_lsp.lines import source_lines
from cwm_lsp.syntax import parsed_or_none
from cwm_lsp.trace.frames import Event, Frame
from cwm_lsp.trace.resolve import TraceScope, assign_scopes

__all__ = ["CodeBlock", "ContextIndex", "LineMap", "LineMapProblem", "map_lines"]

_COMPREHENSION_NAMES = {
    ast.ListComp: "<listcomp>",
    ast.SetComp: "<setcomp>",
    ast.DictComp: "<dictcomp>",
    ast.GeneratorExp: "<genexpr>",
}
_LOOP_NODES = (ast.For, ast.AsyncFor, ast.While, *_COMPREHENSION_NAMES)
_DEF_RE = re.compile(r"^(\s*)(?:async\s+def|def|class)\s+([A-Za-z_]\w*)")
_LOOP_RE = re.compile(r"^(\s*)(?:async\s+for|for|while)\b.*:\s*(#.*)?$")
_MAX_CANDIDATES = 64


_HeadAnalysis = tuple[
    tuple["CodeBlock", ...],
    dict[int, list[tuple[int, int]]],
    dict[int, tuple[str, ...]],
    dict[int, tuple[str, ...]],
]


class _HeadCache:
    """The last few module heads' analyses (thread-safe: trace-check checks files in threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, _HeadAnalysis] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> _HeadAnalysis | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: str, value: _HeadAnalysis) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_HEADS = _HeadCache(8)


@dataclass(frozen=True)
class CodeBlock:
    """A unit of the context that runs as its own scope.

    ``kind`` is ``"function"``, ``"class"``, ``"lambda"``, ``"comprehension"`` or ``"inline"``
    (an unknown construct on one line). ``header_lines`` are the lines a call frame may show for
    it (the ``def``/``class`` line and decorator lines; the start line of a lambda or
    comprehension). ``body_start`` is the first body line of a function or class (its body lines
    belong to it, not to the enclosing scope); None for inline blocks.
    """

    kind: str
    name: str
    qualname: str
    header_lines: tuple[int, ...]
    start: int
    end: int
    body_start: int | None = None

    def contains(self, line: int) -> bool:
        return self.start <= line <= self.end


@dataclass(frozen=True)
class LineMapProblem:
    frame_index: int
    message: str

    def __str__(self) -> str:
        return f"frame {self.frame_index}: {self.message}"


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    return []


def _frame_text(line: str) -> str:
    return line.rstrip("\r\n")


class ContextIndex:
    """Line lookup and code blocks of one trace context (build once, reuse for many frames)."""

    def __init__(self, context: str) -> None:
        self.lines = source_lines(context)
        self._by_text: dict[str, list[int]] = {}
        self._by_stripped: dict[str, list[int]] = {}
        for number, text in enumerate(self.lines, start=1):
            self._by_text.setdefault(text, []).append(number)
            self._by_stripped.setdefault(text.strip(), []).append(number)
        self.loops: dict[int, list[tuple[int, int]]] = {}  # header line -> (start, end) ranges
        # Local names a statement binds, by the statement's first line (from ast only). For a
        # ``for`` header the names are bound only when the body runs next.
        self.bindings: dict[int, tuple[str, ...]] = {}
        self.loop_targets: dict[int, tuple[str, ...]] = {}
        tree = parsed_or_none(context)
        if tree is None:
            self.parsed = False
            self.blocks = self._blocks_from_text()
        else:
            self.parsed = True
            self.blocks = self._blocks_from_ast(tree)
        self._allowed: dict[CodeBlock, frozenset[int]] = {}
        self._at_header: dict[int, list[CodeBlock]] = {}
        for block in self.blocks:
            for line in block.header_lines:
                self._at_header.setdefault(line, []).append(block)
        self._candidates: dict[tuple[CodeBlock | None, str], list[int]] = {}
        self._order: dict[int, int] | None = None  # id(block) -> its place in self.blocks

    # -- lookup ----------------------------------------------------------------------------

    def exact(self, text: str) -> list[int]:
        return self._by_text.get(_frame_text(text), [])

    def loose(self, text: str) -> list[int]:
        """Lines equal to ``text`` when leading and trailing whitespace is ignored."""
        stripped = text.strip()
        return self._by_stripped.get(stripped, []) if stripped else []

    def text(self, line: int) -> str:
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""

    def allowed_lines(self, block: CodeBlock) -> frozenset[int]:
        """Lines a scope running ``block`` can report: its lines minus nested function bodies."""
        cached = self._allowed.get(block)
        if cached is not None:
            return cached
        lines = set(range(block.start, block.end + 1))
        for other in self.blocks:
            if (
                other is not block
                and other.body_start is not None
                and block.start <= other.start
                and other.end <= block.end
                and (other.start, other.end) != (block.start, block.end)
            ):
                lines.difference_update(range(other.body_start, other.end + 1))
        allowed = frozenset(lines)
        self._allowed[block] = allowed
        return allowed

    def blocks_with_header(self, lines: Iterable[int]) -> list[CodeBlock]:
        """Blocks whose call frames may show one of ``lines``, in context order."""
        found = {id(b): b for line in lines for b in self._at_header.get(line, ())}
        if self._order is None:
            self._order = {id(block): index for index, block in enumerate(self.blocks)}
        order = self._order
        return sorted(found.values(), key=lambda block: order[id(block)])

    def candidates(self, text: str, block: CodeBlock | None) -> list[int]:
        """Lines equal to ``text`` (or, failing that, equal ignoring surrounding whitespace)
        that a scope running ``block`` may report; any line when ``block`` is None."""
        key = (block, text)
        cached = self._candidates.get(key)
        if cached is not None:
            return cached
        allowed = self.allowed_lines(block) if block is not None else None
        result: list[int] = []
        for found in (self.exact(text), self.loose(text)):
            result = [c for c in found if allowed is None or c in allowed][:_MAX_CANDIDATES]
            if result:
                break
        self._candidates[key] = result
        return result

    def loop_encloses(self, header: int, line: int) -> bool:
        return any(start <= line <= end for start, end in self.loops.get(header, ()))

    # -- block discovery -------------------------------------------------------------------

    def _blocks_from_ast(self, tree: ast.AST) -> list[CodeBlock]:
        blocks: list[CodeBlock] = []

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                visit_child(child, prefix)

        def visit_child(child: ast.AST, prefix: str) -> None:
            child_prefix = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qualname = f"{prefix}{child.name}"
                decorators = [d.lineno for d in child.decorator_list]
                kind = "class" if isinstance(child, ast.ClassDef) else "function"
                blocks.append(
                    CodeBlock(
                        kind,
                        child.name,
                        qualname,
                        (*decorators, child.lineno),
                        min([child.lineno, *decorators]),
                        child.end_lineno or child.lineno,
                        child.body[0].lineno if child.body else child.lineno,
                    )
                )
                child_prefix = qualname + ("." if kind == "class" else ".<locals>.")
            elif isinstance(child, ast.Lambda) or type(child) in _COMPREHENSION_NAMES:
                name = _COMPREHENSION_NAMES.get(type(child), "<lambda>")
                kind = "lambda" if isinstance(child, ast.Lambda) else "comprehension"
                assert isinstance(child, ast.expr)
                blocks.append(
                    CodeBlock(
                        kind,
                        name,
                        f"{prefix}{name}",
                        (child.lineno,),
                        child.lineno,
                        child.end_lineno or child.lineno,
                    )
                )
                child_prefix = f"{prefix}{name}.<locals>."
            if isinstance(child, _LOOP_NODES):
                assert isinstance(child, (ast.stmt, ast.expr))
                end = child.end_lineno or child.lineno
                self.loops.setdefault(child.lineno, []).append((child.lineno, end))
            self._note_bindings(child)
            visit(child, child_prefix)

        body = tree.body if isinstance(tree, ast.Module) else []
        last = body[-1] if len(body) >= 2 else None
        decorators = getattr(last, "decorator_list", [])
        start = min([last.lineno, *(node.lineno for node in decorators)]) if last else 0
        if last is None or (body[-2].end_lineno or body[-2].lineno) >= start:
            visit(tree, "")
            return blocks
        # The examples of one file share everything but the harness, the last statement: the
        # analysis of the statements before it is kept by their text and reused.
        head = "".join(self.lines[: start - 1])
        cached = _HEADS.get(head)
        if cached is None:
            for child in body[:-1]:
                visit_child(child, "")
            cached = (tuple(blocks), self.loops, self.bindings, self.loop_targets)
            _HEADS.put(head, cached)
        blocks[:] = cached[0]
        # copies: the last statement adds to them, the cached head stays as it was
        self.loops = {line: list(spans) for line, spans in cached[1].items()}
        self.bindings = dict(cached[2])
        self.loop_targets = dict(cached[3])
        visit_child(last, "")
        return blocks

    def _note_bindings(self, node: ast.AST) -> None:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and (
            isinstance(node, ast.AugAssign) or node.value is not None
        ):
            targets = [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars]
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            names = tuple(_target_names(node.target))
            if names:
                self.loop_targets[node.lineno] = names
            return
        names = tuple(name for target in targets for name in _target_names(target))
        if names and isinstance(node, ast.stmt):
            known = self.bindings.get(node.lineno, ())
            self.bindings[node.lineno] = known + tuple(n for n in names if n not in known)

    def _blocks_from_text(self) -> list[CodeBlock]:
        """Blocks and loops from indentation, for a context that does not parse."""
        blocks: list[CodeBlock] = []
        open_blocks: list[tuple[int, int, str, str, tuple[int, ...]]] = []
        for number, text in enumerate(self.lines, start=1):
            match = _DEF_RE.match(text)
            loop = _LOOP_RE.match(text)
            if not match and not loop:
                continue
            indent = len((match or loop).group(1))  # type: ignore[union-attr]
            end = self._indented_block_end(number, indent)
            if loop:
                self.loops.setdefault(number, []).append((number, end))
                continue
            assert match is not None
            while open_blocks and not (open_blocks[-1][0] < number <= open_blocks[-1][1]):
                open_blocks.pop()
            prefix = open_blocks[-1][3] if open_blocks else ""
            name = match.group(2)
            decorators: list[int] = []
            above = number - 1
            while above >= 1 and self.text(above).strip().startswith("@"):
                decorators.insert(0, above)
                above -= 1
            kind = "class" if text.lstrip().startswith("class") else "function"
            qualname = prefix + name
            blocks.append(
                CodeBlock(
                    kind,
                    name,
                    qualname,
                    (*decorators, number),
                    min([number, *decorators]),
                    end,
                    min(number + 1, end),
                )
            )
            inner = qualname + ("." if kind == "class" else ".<locals>.")
            open_blocks.append((number, end, name, inner, tuple(decorators)))
        return blocks

    def _indented_block_end(self, header: int, indent: int) -> int:
        end = header
        for number in range(header + 1, len(self.lines) + 1):
            text = self.text(number)
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if len(text) - len(text.lstrip()) <= indent:
                break
            end = number
        return end


@dataclass
class LineMap:
    """``lines[i]`` is the context line of frame ``i`` (None when unknown); ``blocks[s]`` is the
    code block scope ``s`` runs (None when unknown)."""

    lines: list[int | None]
    blocks: list[CodeBlock | None]
    scopes: list[TraceScope]
    scope_of_frame: list[int]
    index: ContextIndex
    problems: list[LineMapProblem] = field(default_factory=list)


def map_lines(frames: Sequence[Frame], context: str | ContextIndex) -> LineMap:
    """Line numbers for every frame and the code block of every scope. Never raises."""
    index = context if isinstance(context, ContextIndex) else ContextIndex(context)
    owner, scopes, _ = assign_scopes(frames)
    result = LineMap([None] * len(frames), [None] * len(scopes), scopes, owner, index)
    for scope in scopes:
        block, call_line = _choose_block(frames, scope, result, index)
        result.blocks[scope.id] = block
        if scope.call_index is not None:
            result.lines[scope.call_index] = call_line
        _map_scope_lines(frames, scope, block, call_line, result, index)
    result.problems.sort(key=lambda problem: problem.frame_index)
    return result


def _choose_block(
    frames: Sequence[Frame], scope: TraceScope, result: LineMap, index: ContextIndex
) -> tuple[CodeBlock | None, int | None]:
    if scope.call_index is None:
        return None, None
    call = frames[scope.call_index]
    candidates = index.exact(call.line) or index.loose(call.line)
    if not candidates:
        result.problems.append(
            LineMapProblem(scope.call_index, f"call line not in the context: {call.line.strip()!r}")
        )
        return None, None
    caller_block = result.blocks[scope.parent] if scope.parent is not None else None
    at_header = index.blocks_with_header(candidates)
    if not at_header:
        inside = [c for c in candidates if caller_block is None or caller_block.contains(c)]
        line = (inside or candidates)[0]
        # A call shown on a body line (a resumed generator, a model mistake) runs the innermost
        # block that owns that line; failing that, the scope lives on the call line itself.
        owners = [b for b in index.blocks if line in index.allowed_lines(b)]
        if owners:
            return min(owners, key=lambda b: b.end - b.start), line
        return CodeBlock("inline", "<inline>", "<inline>", (line,), line, line), line

    texts = {frames[i].line for i in scope.frame_indices if i != scope.call_index}
    is_comprehension = ".0" in call.locals

    def score(block: CodeBlock) -> tuple[int, bool, bool]:
        allowed = index.allowed_lines(block)
        found = sum(1 for text in texts if any(c in allowed for c in index.exact(text)))
        nested = caller_block is not None and caller_block.contains(block.start)
        return found, (block.kind == "comprehension") == is_comprehension, nested

    block = max(at_header, key=score)  # max keeps the first of equal scores
    line = next(c for c in candidates if c in block.header_lines)
    return block, line


def _map_scope_lines(
    frames: Sequence[Frame],
    scope: TraceScope,
    block: CodeBlock | None,
    start_line: int | None,
    result: LineMap,
    index: ContextIndex,
) -> None:
    allowed = index.allowed_lines(block) if block is not None else None
    steps: list[tuple[int, list[int]]] = []
    for frame_index in scope.frame_indices:
        if frame_index == scope.call_index:
            continue
        candidates = index.candidates(frames[frame_index].line, block)
        if not candidates:
            text = frames[frame_index].line.strip()
            message = f"line not found in the context: {text!r}"
            if allowed is not None and (index.exact(frames[frame_index].line)):
                message = f"line outside its function {block.qualname if block else ''}: {text!r}"
            result.problems.append(LineMapProblem(frame_index, message))
            continue
        steps.append((frame_index, candidates))
    for frame_index, line in zip(
        (i for i, _ in steps), _best_path(frames, steps, start_line, index), strict=True
    ):
        result.lines[frame_index] = line


def _transition_cost(previous: int | None, line: int, event: Event, index: ContextIndex) -> float:
    if previous is None:
        return 0.0
    distance = abs(line - previous) * 0.001
    if event in (Event.RETURN, Event.EXCEPTION):
        return 0.0 if line == previous else 3.0 + distance
    if line > previous:
        return distance
    if line == previous:
        # Only a loop on one line (or a comprehension) runs the same line twice in a row.
        one_line_loop = any(start == end for start, end in index.loops.get(line, ()))
        return 0.3 if one_line_loop else 2.5
    if index.loop_encloses(line, previous):
        return 0.5 + distance
    return 2.0 + distance


def _best_path(
    frames: Sequence[Frame],
    steps: Sequence[tuple[int, list[int]]],
    start_line: int | None,
    index: ContextIndex,
) -> Iterable[int]:
    """The cheapest sequence of lines, one candidate per step (Viterbi)."""
    if not steps:
        return []
    costs: list[list[float]] = []
    back: list[list[int]] = []
    first_index, first_candidates = steps[0]
    event = frames[first_index].event
    costs.append([_transition_cost(start_line, c, event, index) for c in first_candidates])
    back.append([0] * len(first_candidates))
    for position in range(1, len(steps)):
        frame_index, candidates = steps[position]
        event = frames[frame_index].event
        previous_candidates = steps[position - 1][1]
        previous_costs = costs[-1]
        row_costs: list[float] = []
        row_back: list[int] = []
        for line in candidates:
            if len(previous_candidates) == 1:
                best = 0
                cost = previous_costs[0] + _transition_cost(
                    previous_candidates[0], line, event, index
                )
            else:
                options = [
                    previous_costs[k] + _transition_cost(prev, line, event, index)
                    for k, prev in enumerate(previous_candidates)
                ]
                best = min(range(len(options)), key=options.__getitem__)
                cost = options[best]
            row_costs.append(cost)
            row_back.append(best)
        costs.append(row_costs)
        back.append(row_back)
    choice = min(range(len(costs[-1])), key=costs[-1].__getitem__)
    path: list[int] = []
    for position in range(len(steps) - 1, -1, -1):
        path.append(steps[position][1][choice])
        choice = back[position][choice]
    path.reverse()
    return path
