"""``python -m systemmanager -c CONF``: the core process.

Embedded ZooKeeper (if ``zookeeper.embed``), the system manager, and the REST
translator (unless ``--no-rest``).
"""

from __future__ import annotations

import sys

from odenos import runtime
from systemmanager.daemon import SystemManagerDaemon


def main(argv: list[str] | None = None) -> int:
    parser = runtime.argument_parser("systemmanager", "Run the ODENOS core process.")
    parser.add_argument("--id", help="system manager id (default: MANAGER of the config)")
    parser.add_argument(
        "--no-rest", action="store_true", help="do not run a REST translator in this process"
    )
    parser.add_argument(
        "--reinitialize",
        action="store_true",
        help="begin a new cluster on a ZooKeeper that does not hold this host's (its data "
        "was deleted): everything of the old cluster is lost",
    )
    args = parser.parse_args(argv)
    runtime.setup_logging(args.verbose)
    config = runtime.load(args.config)
    if args.id:
        config = runtime.with_manager_id(config, args.id)
    return runtime.run(
        lambda: SystemManagerDaemon(
            config, with_rest=not args.no_rest, reinitialize=args.reinitialize
        ),
        config.manager_id,
        config,
    )


if __name__ == "__main__":
    sys.exit(main())
