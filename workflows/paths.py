"""Where warmflow keeps its database file and its uploads, resolved once at start-up.

`DATABASE_URL` (a SQLite file) and `WARMFLOW_FILES_DIR` may be relative, as `make run`'s
defaults are. Each is made absolute against the working directory when the process starts
(the web app in `create_app`, the command line and the timer worker in `warmflow`'s group),
so that no later call resolves it against another base: Flask's `send_file`, for one,
takes a relative path to be relative to the package folder, not to the working directory.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite:///instance/warmflow.sqlite"
DEFAULT_FILES_DIR = "instance/files"


@dataclass(frozen=True)
class Paths:
    database_url: str
    files_dir: Path


_current: Paths | None = None


def absolute_database_url(url: str, base: Path | None = None) -> str:
    """A SQLite URL with a relative file made absolute against `base` (the working
    directory); any other URL (PostgreSQL, SQLite in memory) unchanged."""
    if not url.startswith("sqlite"):
        return url
    parsed = make_url(url)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or os.path.isabs(database):
        return url
    absolute = (Path(base or os.getcwd()) / database).resolve()
    return parsed.set(database=str(absolute)).render_as_string(hide_password=False)


def resolve(database_url: str | None = None, files_dir: str | os.PathLike | None = None) -> Paths:
    """The paths from the arguments, else the environment, else the defaults; absolute."""
    base = Path(os.getcwd())
    url = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    folder = Path(files_dir or os.environ.get("WARMFLOW_FILES_DIR") or DEFAULT_FILES_DIR)
    if not folder.is_absolute():
        folder = base / folder
    return Paths(absolute_database_url(url, base), folder.resolve())


def configure(database_url: str | None = None, files_dir: str | os.PathLike | None = None) -> Paths:
    """Resolve the paths and make them this process's (called at start-up)."""
    global _current
    _current = resolve(database_url, files_dir)
    return _current


def current() -> Paths:
    """This process's paths; resolved now from the environment if nothing configured them
    (a script or a test that uses `workflows` directly)."""
    return _current if _current is not None else configure()


def reset() -> None:
    """Forget the configured paths (tests, between configurations)."""
    global _current
    _current = None
