"""``cwm-lsp serve``: run the language server on stdio or TCP."""

from __future__ import annotations

import argparse
import logging
import sys


def _parse_address(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--tcp needs HOST:PORT, e.g. 127.0.0.1:2087; got {text!r}")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    address: tuple[str, int] | None = None
    if args.tcp:
        try:
            address = _parse_address(args.tcp)
        except ValueError as error:
            print(f"cwm-lsp serve: {error}", file=sys.stderr)
            return 2
    log_file = getattr(args, "log_file", None)
    if log_file:
        logging.basicConfig(
            filename=log_file,
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message at INFO
    else:
        # stdout carries the protocol: keep library chatter off it and quiet on stderr.
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING)

    from cwm_lsp.server.app import create_server
    from cwm_lsp.server.transport import serve_stdio, serve_tcp

    server = create_server()
    if address is None:
        protocol_out = sys.stdout.buffer
        # stdout carries the protocol: anything else printed (by a library, a backend) would
        # corrupt it, so print() goes to stderr from here on.
        sys.stdout = sys.stderr
        serve_stdio(server, sys.stdin.buffer, protocol_out)
    else:
        serve_tcp(server, *address)
    return 0
