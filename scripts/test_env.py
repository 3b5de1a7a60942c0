"""Print shell ``export`` lines for the test services that answer on this machine.

``make test`` evaluates this: a variable already set is kept; otherwise
PostgreSQL (127.0.0.1:5432, database ``test``) and Redis (127.0.0.1:6379) are
probed with a short TCP connect and exported when they answer, and
``LOOPML_TEST_RAY=local`` (one local Ray shared by the test session) is
exported when Ray is installed. Tests whose variable stays unset skip with a
message (and fail under CI).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import socket

SERVICES = {
    "LOOPML_TEST_POSTGRES_URL": ("127.0.0.1", 5432, "postgresql://postgres@127.0.0.1:5432/test"),
    "LOOPML_TEST_REDIS_URL": ("127.0.0.1", 6379, "redis://127.0.0.1:6379/0"),
}


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> None:
    for var, (host, port, url) in SERVICES.items():
        if os.environ.get(var):
            continue
        if answers(host, port):
            print(f"export {var}={shlex.quote(url)}")
        else:
            print(f"echo 'note: no service on {host}:{port}; tests needing {var} will skip' >&2")
    if not os.environ.get("LOOPML_TEST_RAY"):
        if importlib.util.find_spec("ray") is not None:
            print("export LOOPML_TEST_RAY=local")
        else:
            print("echo 'note: Ray is not installed; tests needing LOOPML_TEST_RAY will skip' >&2")


if __name__ == "__main__":
    main()
