"""`python -m stack.container.launch worker|beat [OPTIONS]`: Celery's own worker and beat commands.

`celery -A stack.container.boot:app worker` imports every Celery subcommand and every installed
plugin before it parses a single option: Flower's command, click-repl and prompt_toolkit
for `celery shell`, the amqp shell. That is ~0.4 s of CPU on every worker start (measured:
1.2 s -> 0.8 s to "ready" on this project's 2-core machine), paid again by each replica
that `stack scale` adds. This calls the same click commands with the same arguments, so
every `celery worker` / `celery beat` option works here unchanged.
"""

from __future__ import annotations

import sys
from typing import Any

COMMANDS = ("worker", "beat")


def _command(name: str) -> Any:
    if name == "worker":
        from celery.bin.worker import worker

        return worker
    from celery.bin.beat import beat

    return beat


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        sys.exit(
            f"usage: python -m stack.container.launch {{{'|'.join(COMMANDS)}}} [celery options]"
        )
    name, options = args[0], args[1:]
    # What `celery` (celery/__main__.py) does first: gevent/eventlet must patch the standard
    # library before anything else imports it.
    from celery import maybe_patch_concurrency

    maybe_patch_concurrency(["celery", *args])
    # Celery restarts a worker on SIGHUP with os.execv(python, [python, *sys.argv]): make
    # that run this module again, not launch.py as a script without its package.
    sys.argv = ["-m", "stack.container.launch", *args]
    from stack.container import health, phase

    health.forget_ready()

    # Where a start that never gets ready is stuck, for the host to read (phase.py).
    phase.enter(phase.IMPORTING)
    watch = phase.Watch().start()
    from celery.bin.base import CLIContext, consume_preload_options

    from stack.errors import StackError

    try:
        from stack.container.boot import app
    except StackError as exc:  # the app cannot be imported: Celery's message, one line
        sys.exit(f"stack: {exc}")
    phase.install(app, watch, name)
    if name == "beat" or {"-B", "--beat"} & set(options):  # here: a scheduler may need Django
        from stack.container import beatstate

        beatstate.install(app)

    command = _command(name)
    # What the umbrella command does before it hands over: the app's own extra options,
    # and its preload options (delivered through the user_preload_options signal).
    command.params.extend(app.user_options.get(name, []))
    preload = list(app.user_options.get("preload", ()))
    if preload:
        command.params.extend(preload)
        command.callback = consume_preload_options(command.callback)
    command.main(
        args=options,
        prog_name=f"celery {name}",
        obj=CLIContext(app=app, no_color=None, workdir=None),
        auto_envvar_prefix=f"CELERY_{name.upper()}",
    )


if __name__ == "__main__":
    main()
