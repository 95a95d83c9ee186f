"""Run a function on an untrusted file in a child process with a memory and a
time limit, so that no upload can raise the server's memory or hold it.

    from model.lab.sandbox import run
    value = run("model.lab.registry:keep_upload", {"path": ..., ...}, filename="digits.keras")

The child is ``python -m model.lab.sandbox`` started with ``subprocess`` (fork and
an immediate exec: the parent is a Streamlit server with TensorFlow and
threads, where a fork that goes on running Python could deadlock, and
multiprocessing's "spawn" would re-import Streamlit's ``__main__``). Before
importing anything big the child limits itself with ``setrlimit``:

- ``RLIMIT_DATA`` (``MEMORY_LIMIT``, 1.5 GiB): heap and private anonymous
  mappings, what an allocation of weights or activations grows. Measured:
  importing TensorFlow leaves VmData at 325 MB, loading and evaluating the
  strong CNN on the test set in batches of 500 at 540 MB, while VmSize is
  already 1.2 GB after the import and 1.8 GB after that evaluation: TF
  reserves address space it never touches, so ``RLIMIT_AS`` at 1.5 GB killed
  the import of TensorFlow itself, and would have to be set so high it bounds
  nothing. The largest model the static checks let through (20 million
  parameters, an 80 MB file) died under 1 GiB while Keras built it and passed
  under 1.25 GiB: hence 1.5 GiB. RSS counts TensorFlow's shared libraries (0.7 GB, shared with the
  server's copy in the page cache), and a watchdog polling it could be
  overrun by a fast allocation between two polls; the kernel enforces
  ``RLIMIT_DATA`` at the allocation itself. Over the limit, Python raises
  ``MemoryError`` and TensorFlow's C++ dies (SIGSEGV/SIGABRT): both are
  reported as needing more memory than the limit.
- ``RLIMIT_FSIZE`` (512 MiB): no file it writes grows without bound;
  ``RLIMIT_CORE`` 0: a crash leaves no core dump.

The parent kills the child after ``TIME_LIMIT`` seconds (120: importing
TensorFlow takes 3-5 s, evaluating the strong CNN on 10,000 images 6 s), and
records its peak RSS (VmHWM) in ``last_cost``, and how the child ended in
``last_ending`` (its wait status, whether the deadline killed it, the kind of
error it replied): tests read there why a check stopped, not how long it
took. One child runs at a time (a lock): two at once would double the memory
an upload may take.

For tests only, ``hold_in`` (None: no hold) names a folder where each child
waits before its work (it writes ``held-<pid>`` there, and goes on once a
file ``release`` appears, or its parent is gone): a child that cannot finish
by itself, whatever the machine's speed, to be stopped at its time limit.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.files import write_json
from model.serving.contract import InvalidModelError

MEMORY_LIMIT = 3 * 2**29  # RLIMIT_DATA of the child, bytes: 1.5 GiB
TIME_LIMIT = 120.0  # seconds, wall clock
FILE_SIZE_LIMIT = 512 * 2**20
ROOT = Path(__file__).resolve().parents[2]  # the checkout: model/lab/ is two levels down
MEMORY_WORDS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "OOM", "ResourceExhausted",
                "out of memory")

_one_at_a_time = threading.Lock()
last_cost: tuple[int, float] | None = None  # (peak RSS bytes, seconds) of the latest child: for benchmarks


@dataclass(frozen=True)
class Ending:
    """How the latest child ended (``last_ending``): what tests check instead of a clock."""

    status: int  # its wait status (os.WIFSIGNALED, os.WTERMSIG, os.WEXITSTATUS)
    timed_out: bool  # killed by the parent at its time limit
    error: str | None  # the kind of error it replied ("InvalidModelError", "MemoryError", ...), None if none
    peak_rss: int  # bytes (VmHWM)

    @property
    def signal(self) -> int | None:
        """The signal that ended it, None when it exited."""
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None

    @property
    def exit_code(self) -> int | None:
        """Its exit code when it exited by itself, None when a signal ended it."""
        return os.WEXITSTATUS(self.status) if os.WIFEXITED(self.status) else None


last_ending: Ending | None = None
hold_in: Path | None = None  # tests only: a folder where each child waits before its work (``_hold``)


@dataclass(frozen=True)
class Outcome:
    """What the child returned, and what it cost."""

    value: Any
    peak_rss: int  # bytes, the child's maximum resident set (VmHWM)
    seconds: float


def run(target: str, kwargs: dict[str, Any], filename: str, memory_limit: int = MEMORY_LIMIT,
        time_limit: float = TIME_LIMIT) -> Outcome:
    """Call ``target`` ("module:function") with JSON ``kwargs`` in a limited
    child; its JSON return value. Raises ``InvalidModelError`` naming
    ``filename`` when the function does, or when the child runs out of memory
    or time, or crashes."""
    with _one_at_a_time, tempfile.TemporaryDirectory(prefix="mnist-sandbox-") as tmp:
        request = Path(tmp) / "request.json"
        reply = Path(tmp) / "reply.json"
        log = Path(tmp) / "stderr.txt"
        request.write_text(json.dumps({"target": target, "kwargs": kwargs, "reply": str(reply),
                                       "memory_limit": memory_limit,
                                       "hold": None if hold_in is None else str(hold_in)}))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        started = time.perf_counter()
        with open(log, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "model.lab.sandbox", str(request)], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
        status, peak, timed_out = _wait(proc, time_limit)
        seconds = time.perf_counter() - started
        answer = _read_reply(reply)
        if answer is not None and isinstance(answer.get("peak_rss"), int):
            peak = max(peak, answer["peak_rss"])
        global last_cost, last_ending
        last_cost = (peak, seconds)
        last_ending = Ending(status, timed_out, answer.get("error") if answer is not None else None, peak)
        if timed_out:
            raise InvalidModelError(f"{filename}: checking it took longer than {time_limit:.0f} s, the limit; "
                                    "it was stopped")
        if answer is not None and answer.get("ok"):
            return Outcome(answer.get("value"), peak, seconds)
        if answer is not None and answer.get("error") == "InvalidModelError":
            raise InvalidModelError(answer["message"])
        stderr = log.read_bytes()[-20_000:].decode(errors="replace")
        limit = f"{memory_limit / 2**20:,.0f} MiB"
        if (answer is not None and answer.get("error") == "MemoryError") or any(w in stderr for w in MEMORY_WORDS):
            raise InvalidModelError(f"{filename} needs more memory than the {limit} an upload may use; it was stopped")
        if os.WIFSIGNALED(status):
            name = signal.Signals(os.WTERMSIG(status)).name
            raise InvalidModelError(f"{filename}: checking it crashed ({name}), most likely out of the {limit} "
                                    "of memory an upload may use")
        message = answer.get("message") if answer else None
        raise InvalidModelError(f"{filename} could not be checked: {message or 'the checker stopped without a reply'}")


def _wait(proc: subprocess.Popen, time_limit: float) -> tuple[int, int, bool]:
    """(wait status, peak RSS in bytes, timed out) of the child, killed at the
    deadline. The peak is the child's VmHWM, sampled while it runs: ``wait4``'s
    ``ru_maxrss`` would report this process's own size, which the child had
    for a moment between fork and exec."""
    deadline = time.monotonic() + time_limit
    timed_out, peak = False, 0
    while True:
        pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
            return status, peak, timed_out
        peak = max(peak, _hwm(proc.pid))
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.02)


def _hwm(pid: int | str) -> int:
    """Peak resident memory (VmHWM) of a process, bytes; 0 if unknown."""
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _read_reply(path: Path) -> dict[str, Any] | None:
    try:
        answer = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def limit_self(memory_limit: int) -> None:
    """The child's own limits, set before it imports TensorFlow or reads the file."""
    resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _out_of_memory(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, MemoryError) or any(w in str(exc) for w in MEMORY_WORDS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _hold(folder: Path) -> None:
    """Tests only (``hold_in``): wait in ``folder`` until it holds ``release``
    or the parent is gone."""
    parent = os.getppid()
    (folder / f"held-{os.getpid()}").touch()
    while not (folder / "release").exists() and os.getppid() == parent:
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text())
    limit_self(int(request["memory_limit"]))
    reply = Path(request["reply"])
    if request.get("hold"):
        _hold(Path(request["hold"]))
    try:
        from model.logs import quiet_tensorflow

        quiet_tensorflow()
        module, function = request["target"].split(":")
        value = getattr(importlib.import_module(module), function)(**request["kwargs"])
        answer = {"ok": True, "value": value}
    except Exception as exc:
        from model.logs import first_line

        if _out_of_memory(exc):  # also when wrapped: load_mnist reports a MemoryError as no data
            answer = {"ok": False, "error": "MemoryError"}
        elif isinstance(exc, InvalidModelError):
            answer = {"ok": False, "error": "InvalidModelError", "message": str(exc)}
        else:
            answer = {"ok": False, "error": type(exc).__name__, "message": first_line(exc)}
    answer["peak_rss"] = _hwm("self")
    write_json(reply, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
