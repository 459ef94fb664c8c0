"""Why an app container is not ready: from its own state files and its logs.

A worker that started but never answers a ping looks the same from the host whether it
is still importing, waiting for its broker, losing pool children or blocked on a
database. The container writes its phase and, while it imports, its main thread's stack
(container/phase.py); one `docker exec` reads them, and its log tail says the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stack.container import paths, phase
from stack.deploy.docker.client import Container, DockerClient

LOG_LINES = 200
# One exec: the container's clock, the phase line, a separator, the stack.
READ_STATE = [
    "sh",
    "-c",
    f"date +%s; cat {paths.STATE_DIR}/{phase.PHASE} 2>/dev/null; echo ---; "
    f"cat {paths.STATE_DIR}/{phase.STACK} 2>/dev/null",
]
# Code that talks to a database: a stack inside one of these is blocked on it.
DATABASE_CODE = re.compile(
    r"/(django/db|psycopg2?|psycopg_binary|MySQLdb|pymysql|mysql/connector|sqlalchemy|"
    r"asyncpg|aiopg|pymongo|motor|oracledb|cx_Oracle|pyodbc|sqlite3|peewee|tortoise)/"
)
BROKER_RETRY = re.compile(r"consumer: Cannot connect to (\S+): (.*?)(\.?\s*Trying again.*)?$")
CHILD_CRASH = re.compile(
    r"(Process '[^']+' pid:\d+ exited with '[^']+'|Timed out waiting for UP message from \S+"
    r"|WorkerLostError\S*:? .*)"
)
SITE = re.compile(r"^.*/(site|dist)-packages/|^/usr/(local/)?lib/python3[.\d]*/")


@dataclass(frozen=True)
class State:
    """What the container wrote about itself (container/phase.py)."""

    phase: str | None = None
    seconds: int | None = None  # how long it has been in that phase
    detail: str = ""
    stack: list[tuple[str, int, str]] = field(default_factory=list)  # outermost first


def parse_state(text: str | None) -> State:
    """READ_STATE's output as a State; an empty State if the files are missing."""
    if not text:
        return State()
    head, _, stack_text = text.partition("---\n")
    lines = head.splitlines()
    now = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    name, seconds, detail = None, None, ""
    if len(lines) > 1:
        fields = lines[1].split("\t")
        name = fields[0] or None
        if len(fields) > 1 and fields[1].isdigit() and now is not None:
            seconds = max(0, now - int(fields[1]))
        detail = fields[2] if len(fields) > 2 else ""
    stack = []
    for line in stack_text.splitlines():
        location, _, function = line.rpartition(":")  # file:line:function
        path, _, number = location.rpartition(":")
        if path and number.isdigit():
            stack.append((path, int(number), function))
    return State(name, seconds, detail, stack)


def short(path: str) -> str:
    """A frame's file as a user reads it: relative to the app, or to site-packages."""
    if path.startswith(paths.APP_DIR + "/"):
        return path[len(paths.APP_DIR) + 1 :]
    return SITE.sub("", path)


def where(stack: list[tuple[str, int, str]]) -> str:
    """'in FILE:LINE (function)' of the innermost frame of the app's own code, and of the
    innermost frame if that lies elsewhere (Django, a database driver)."""
    if not stack:
        return ""
    own = [f for f in stack if f[0].startswith(paths.APP_DIR + "/")]
    inner = stack[-1]
    parts = []
    if own:
        file, line, func = own[-1]
        parts.append(f"in {short(file)}:{line} ({func})")
    if not own or own[-1] != inner:
        file, line, func = inner
        parts.append(f"inside {short(file)}:{line} ({func})")
    return ", ".join(parts)


def _for(seconds: int | None) -> str:
    return f" for {seconds} s" if seconds is not None else ""


def explain(state: State, logs: str) -> str | None:
    """One line that says what the container is doing, or None if nothing tells."""
    lines = logs.splitlines()
    # The kit's own fatal messages (launch.py: the app cannot be imported), last one first.
    fatal = [line for line in lines if line.startswith("stack: ") and "waiting for" not in line]
    if fatal:
        return fatal[-1].removeprefix("stack: ")
    retries = [m for m in map(BROKER_RETRY.search, lines) if m]
    if retries and state.phase != phase.READY:
        return f"waiting for the broker: {retries[-1].group(2).rstrip('.')}"
    crashes = [m.group(1) for m in map(CHILD_CRASH.search, lines) if m]
    if crashes:
        return f"a pool child process crashed: {crashes[-1]}"
    if state.phase in phase.IMPORT_PHASES:
        place = where(state.stack)
        if any(DATABASE_CODE.search(file) for file, _, _ in state.stack):
            return f"blocked on the database{_for(state.seconds)} while {state.phase}, {place}"
        return f"still {state.phase}{_for(state.seconds)}" + (f", {place}" if place else "")
    if state.phase == phase.BROKER_PORT:
        return (
            f"waiting for the broker at {state.detail}{_for(state.seconds)}: its port does "
            "not accept connections"
        )
    if state.phase in (phase.STARTING, phase.CONNECTED):
        return f"{state.phase}{_for(state.seconds)}"
    if state.phase == phase.READY:
        return "it logged ready but does not answer pings (a broker it cannot reach back?)"
    return None


def reason(docker: DockerClient, container: Container) -> str | None:
    """explain() for a live container: its state files (one exec) and its log tail."""
    text = docker.exec_output(container, READ_STATE)
    return explain(parse_state(text), docker.tail(container, LOG_LINES))
