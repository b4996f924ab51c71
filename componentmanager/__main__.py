"""``python -m componentmanager -c CONF --id romgr1``: one component manager."""

from __future__ import annotations

import sys

from componentmanager.daemon import ComponentManagerDaemon
from odenos import runtime
from odenos.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = runtime.argument_parser("componentmanager", "Run one ODENOS component manager.")
    parser.add_argument("--id", required=True, help="the cm id of a PROCESS line")
    args = parser.parse_args(argv)
    runtime.setup_logging(args.verbose)
    config = runtime.load(args.config)
    try:
        config.process(args.id)
    except ConfigError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    return runtime.run(lambda: ComponentManagerDaemon(config, args.id), args.id, config)


if __name__ == "__main__":
    sys.exit(main())
