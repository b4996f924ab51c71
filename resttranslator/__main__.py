"""``python -m resttranslator -c CONF [--port N]``: a REST translator on its own."""

from __future__ import annotations

import sys

from odenos import runtime
from resttranslator.daemon import RestTranslatorDaemon


def main(argv: list[str] | None = None) -> int:
    parser = runtime.argument_parser("resttranslator", "Run an ODENOS REST translator.")
    parser.add_argument("--port", type=int, help="listen port (default: rest.port)")
    args = parser.parse_args(argv)
    runtime.setup_logging(args.verbose)
    config = runtime.load(args.config)
    name = f"resttranslator-{args.port or config.rest_port}"
    return runtime.run(lambda: RestTranslatorDaemon(config, args.port), name, config)


if __name__ == "__main__":
    sys.exit(main())
