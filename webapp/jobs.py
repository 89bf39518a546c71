"""Background work started by a request (a campaign launch, moving cases on after a bank
import): a daemon thread with its own database session. The work itself lives in
`workflows` and records its own progress, so a page can poll it and a restart loses at
most what the work's own chunking allows (it can be started again safely).

With JOBS_INLINE (tests), the work runs before the request returns.
"""

import logging
import threading
from collections.abc import Callable

from flask import current_app

log = logging.getLogger(__name__)


def start(name: str, work: Callable[..., None], *args) -> None:
    """Run `work(session_factory, *args)` in the background."""
    factory = current_app.extensions["warmflow.sessions"]
    if current_app.config.get("JOBS_INLINE"):
        work(factory, *args)
        return

    def run() -> None:
        try:
            work(factory, *args)
        except Exception:  # noqa: BLE001 - a background failure must reach the log, not vanish
            log.exception("background job %s failed", name)

    threading.Thread(target=run, name=f"warmflow-{name}", daemon=True).start()
