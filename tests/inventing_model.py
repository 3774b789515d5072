"""A small real model taught one trace: ``double`` called with an input it invents (21).

Shared by tests/e2e/test_server_presentation.py and tests/editor/test_vscode.py: the demo model
never learned to invent inputs, so a model taught this one trace shows the invented-call path
deterministically.
"""

from __future__ import annotations

from pathlib import Path

# A model taught one trace: `double` called with the input it invents, 21.
INVENTING = "def double(x):\n    y = x * 2\n    return y\n"
INVENTED_TRACE = (
    '<|call_sep|>{"x": "21"}<|action_sep|>def double(x):  # << START_OF_TRACE\n<|frame_sep|>'
    '<|line_sep|>{"x": ".."}<|action_sep|>    y = x * 2\n<|frame_sep|>'
    '<|line_sep|>{"x": "..", "y": "42"}<|action_sep|>    return y\n<|frame_sep|>'
    '<|return_sep|><|action_sep|>    return y\n<|arg_sep|>"42"<|frame_sep|><|end_of_text|>'
)


def write_inventing_model(directory: Path) -> Path:
    """Write the model (tokenizer, config, weights) into ``directory``; returns it."""
    from cwm_lsp.entry import build_context, find_function
    from cwm_lsp.runtime import testing
    from cwm_lsp.runtime.tokenizer import load_tokenizer
    from cwm_lsp.trace.parser import parse_trace

    directory.mkdir(parents=True, exist_ok=True)
    testing.write_byte_tokenizer(directory)
    tokenizer = load_tokenizer(directory)
    assert tokenizer is not None
    context = build_context(INVENTING, None, find_function(INVENTING, line=1)).context
    prompt = tokenizer.encode_prompt(context)
    trace = tokenizer.encode_frames(parse_trace(INVENTED_TRACE).frames, finished=True)
    testing.write_trace_model(directory, [prompt + trace], prompt_length=len(prompt), steps=300)
    return directory
