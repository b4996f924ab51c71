"""Log formats for the daemons: ``odenos.logformat.JsonFormatter``, one JSON object a line.

Named in a ``log.config`` file (``etc/logging.yaml``) as a formatter's ``()``: each
record becomes ``{"time", "level", "logger", "message", "process", "pid"}`` plus
``"exception"`` (the traceback's text) when there is one, for log shippers that
read JSON lines.
"""

from __future__ import annotations

import datetime
import json
import logging
import os

#: The daemon's name (set by :func:`odenos.runtime.run`): which process wrote a line.
PROCESS_NAME = ""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": PROCESS_NAME,
            "pid": os.getpid(),
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)
