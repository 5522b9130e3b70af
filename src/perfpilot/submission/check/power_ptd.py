"""PTD session rules: what the power director asked the analyzer and what it answered.

The server session (``power/server.json``) records every PTDaemon command and reply. The
power checker of the round requires: a supported PTDaemon release and analyzer, the
expected reply to each range, start and stop command, the analyzer's initial ranges set
back after the testing run, the client and server exchanging the same messages in the
same protocol version, unmodified power-dev sources, and two channels on a multichannel
analyzer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from perfpilot.submission.check.context import Context
from perfpilot.submission.check.power_rounds import (
    ANALYZERS,
    MULTICHANNEL_DEVICE,
    PowerRound,
)

# command prefix -> the reply PTDaemon gives when the command worked
_REPLIES = (
    ("SR,A", "Range A changed"),
    ("SR,V", "Range V changed"),
    (
        "Go,1000,",
        "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples",
    ),
    ("Stop", "Stopping untimed measurement"),
)
# The director stops twice per run; the third Stop (after testing) finds nothing to stop.
_LATE_STOP_REPLY = "Error: no measurement to stop"
_VERSION = re.compile(r"version=(.+?)-")
_CLIENT_HELLO = re.compile(r"mlcommons/power client v(\d+)$")
_SERVER_HELLO = re.compile(r"mlcommons/power server v(\d+)$")


def _messages_of(data: dict[str, Any], key: str) -> list[dict[str, Any]] | None:
    msgs = data.get(key)
    if not isinstance(msgs, list) or not all(
        isinstance(m, dict) and isinstance(m.get("cmd"), str) for m in msgs
    ):
        return None
    return msgs


def check_sources(
    ctx: Context, power: Path, client: dict[str, Any], server: dict[str, Any], prules: PowerRound
) -> None:
    """The power client and server ran the released power-dev code of the round."""
    for side, data in (("client", client), ("server", server)):
        if data.get("sources") not in prules.sources:
            ctx.add(
                "power-sources",
                power / f"{side}.json",
                "the checksums of the power client/server sources are not those of the "
                "round's release of mlcommons/power-dev",
            )


def check_messages(
    ctx: Context, power: Path, client: dict[str, Any], server: dict[str, Any]
) -> None:
    """Client and server logged the same exchange, in the same protocol version."""
    mc, ms = _messages_of(client, "messages"), _messages_of(server, "messages")
    if mc is None or ms is None:
        ctx.add("power-session", power, "messages of client.json or server.json unreadable")
        return
    if len(mc) != len(ms):
        ctx.add(
            "power-session",
            power,
            f"client.json logs {len(mc)} messages, server.json {len(ms)}",
        )
        return
    for i, (c, s) in enumerate(zip(mc, ms, strict=True)):
        if c["cmd"] != s["cmd"]:
            ctx.add(
                "power-session",
                power,
                f"message {i} differs: client sent {c['cmd']!r}, server got {s['cmd']!r}",
            )
            return
        if c["cmd"] != "time" and c.get("reply") != s.get("reply"):
            ctx.add(
                "power-session",
                power,
                f"the replies to {c['cmd']!r} differ between client.json and server.json",
            )
            return
    first = ms[0] if ms else {}
    client_v = _CLIENT_HELLO.search(str(first.get("cmd", "")))
    server_v = _SERVER_HELLO.search(str(first.get("reply", "")))
    if client_v is None or server_v is None:
        ctx.add("power-session", power / "server.json", "no power client/server version")
    elif client_v.group(1) != server_v.group(1):
        ctx.add(
            "power-session",
            power / "server.json",
            f"client v{client_v.group(1)} talked to server v{server_v.group(1)}",
        )


def _initial_range(reply: str, index: int) -> str | None:
    """The range the analyzer had before the session (``Auto`` unless a fixed one), from
    the reply to RR: ``Ranges,<amps auto>,<amps>,<volts auto>,<volts>``."""
    fields = reply.split(",")
    try:
        if fields[index] == "0" and float(fields[index + 1]) > 0:
            return fields[index + 1]
    except (IndexError, ValueError):
        return None
    return "Auto"


def _nth(msgs: list[dict[str, Any]], prefix: str, n: int) -> str | None:
    """The ``n``-th (1-based) command starting with ``prefix``."""
    found = [m["cmd"] for m in msgs if m["cmd"].startswith(prefix)]
    return found[n - 1] if len(found) >= n else None


def check_ptd_messages(
    ctx: Context, path: Path, server: dict[str, Any], prules: PowerRound
) -> None:
    """The PTDaemon exchange of ``server.json`` (``path``) is the one the rules expect."""
    msgs = _messages_of(server, "ptd_messages")
    if msgs is None:
        ctx.add("power-ptd", path, "no ptd_messages (the PTD commands and replies)")
        return
    identify = next((str(m.get("reply", "")) for m in msgs if m["cmd"] == "Identify"), "")
    if not identify:
        ctx.add("power-ptd", path, "no reply to the PTD 'Identify' command")
        return
    match = _VERSION.search(identify)
    version = match.group(1) if match else ""
    if version not in prules.ptd_versions:
        ctx.add(
            "power-ptd",
            path,
            f"PTDaemon {version or '(no version)'} is not the round's "
            f"({', '.join(prules.ptd_versions)})",
        )
    model = identify.split(",")[0]
    if model not in ANALYZERS:
        ctx.add("power-ptd", path, f"power analyzer {model!r} is not a supported one")
    for prefix, expected in _REPLIES:
        stops = 0
        for m in msgs:
            if not m["cmd"].startswith(prefix):
                continue
            want = expected
            if m["cmd"] == "Stop":
                want = _LATE_STOP_REPLY if stops >= 2 else expected
                stops += 1
            if m.get("reply") != want:
                ctx.add(
                    "power-ptd",
                    path,
                    f"PTD replied {m.get('reply')!r} to {m['cmd']!r} (expected {want!r})",
                )
                return
    ranges = str(msgs[2].get("reply", "")) if len(msgs) > 2 else ""
    amps, volts = _initial_range(ranges, 1), _initial_range(ranges, 3)
    if amps is None or volts is None:
        ctx.add("power-ptd", path, f"no initial analyzer ranges in the third reply {ranges!r}")
        return
    amps_cmds = [_nth(msgs, "SR,A", n) for n in prules.amps_restore]
    if None in amps_cmds:
        # the official checker of the round looks for each of these commands and fails
        # where one is missing: the power director of the round always sends them
        ctx.add(
            "power-ptd",
            path,
            f"fewer than {prules.amps_restore[-1]} 'SR,A' (amps range) commands: the "
            "session was not run by the round's power director",
        )
    elif f"SR,A,{amps}" not in amps_cmds:
        ctx.add(
            "power-ptd",
            path,
            f"the amps range was not set back to its initial 'SR,A,{amps}' "
            f"(got {', '.join(repr(c) for c in amps_cmds)})",
        )
    volts_cmd = _nth(msgs, "SR,V", 3)
    if volts_cmd != f"SR,V,{volts}":
        ctx.add(
            "power-ptd",
            path,
            f"the volts range was not set back to its initial 'SR,V,{volts}' (got {volts_cmd!r})",
        )


def check_ptd_config(ctx: Context, path: Path, server: dict[str, Any], prules: PowerRound) -> None:
    """Supported analyzers, in the round's layout, both channels of a multichannel one."""
    config = server.get("ptd_config")
    if prules.analyzer_list != isinstance(config, list) or not config:
        shape = "a list of analyzers" if prules.analyzer_list else "one analyzer (an object)"
        ctx.add("power-ptd", path, f"ptd_config must be {shape} in this round's power tools")
        return
    for analyzer in config if isinstance(config, list) else [config]:
        device = analyzer.get("device_type") if isinstance(analyzer, dict) else None
        if device not in ANALYZERS.values():
            ctx.add(
                "power-ptd", path, f"analyzer device {device} is not one the power rules support"
            )
            continue
        if device != MULTICHANNEL_DEVICE:
            continue
        assert isinstance(analyzer, dict)
        command = [str(c) for c in analyzer.get("command") or []]
        channels = command[command.index("-c") + 1] if "-c" in command[:-1] else ""
        listed = analyzer.get("channel")
        if len(channels.split(",")) != 2 or not isinstance(listed, list) or len(listed) != 2:
            ctx.add("power-ptd", path, f"analyzer device {device} must measure on two channels")
