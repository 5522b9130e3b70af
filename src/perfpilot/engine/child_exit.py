"""How a LoadGen child process ended, in words: the exit code, or the signal that killed
it with what that signal usually means."""

from __future__ import annotations

import signal

#: What a signal that kills a child usually means.
_MEANINGS: dict[int, str] = {
    signal.SIGKILL: "out of memory or killed from outside",
    signal.SIGSEGV: "a crash in native code: LoadGen or the runtime",
    signal.SIGABRT: "a native library aborted, often on an uncaught C++ exception",
    signal.SIGBUS: "a bad memory access: a file changed under a memory map, or /dev/shm full",
    signal.SIGFPE: "an arithmetic fault in native code",
    signal.SIGILL: "an instruction this CPU lacks: a build for a newer CPU",
    signal.SIGTERM: "asked to stop from outside",
    signal.SIGINT: "interrupted (Ctrl-C)",
    signal.SIGHUP: "its terminal closed",
    signal.SIGPIPE: "it wrote to a closed pipe",
}


def describe_exit(returncode: int) -> str:
    """``ended with exit code 3``, or for a negative ``returncode`` (subprocess's way of
    saying a signal ended the process) ``was killed by signal 9 (SIGKILL: out of memory
    or killed from outside)``."""
    if returncode >= 0:
        return f"ended with exit code {returncode}"
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"was killed by signal {number}"
    meaning = _MEANINGS.get(number)
    return f"was killed by signal {number} ({name}" + (f": {meaning})" if meaning else ")")
