"""Runs the benchmark's matrix (bench/run.sh starts the servers and calls this).

For each case (message size, plain or TLS, connections, round-trip time, server) it runs every
client of every language one after another, pinned with taskset to BENCH_CLIENT_CPU (the
servers are on BENCH_SERVER_CPU), reads the client's JSON line, its peak RSS (wait4) and the
sink's own count of messages, and then prints one table and writes the JSON.

Every client follows one contract (bench/README.md): it sends --warmup messages, then starts its
clock and sends up to --messages more until --max-secs, and prints
{"warmup_sent", "warmup_failed", "sent", "failed", "secs", "error"}. msg/s is sent / secs; the
run counts only if the sink received exactly warmup_sent + sent messages.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ENV = os.environ
STATE = Path(ENV.get("BENCH_STATE", BENCH / ".state"))
TARGET = Path(ENV.get("BENCH_TARGET", REPO / "target"))
VENV_PY = Path(ENV.get("BENCH_VENV", BENCH / ".venv")) / "bin" / "python"
QUICK = ENV.get("BENCH_QUICK") == "1"
CLIENT_CPU = ENV.get("BENCH_CLIENT_CPU", "0")
MESSAGES = int(ENV.get("BENCH_MESSAGES", "2000" if QUICK else "20000"))
MAX_SECS = float(ENV.get("BENCH_MAX_SECS", "1.5" if QUICK else "3"))
STREAM_MESSAGES = int(ENV.get("BENCH_STREAM_MESSAGES", "10000" if QUICK else "100000"))
NODE_RSS_MESSAGES = int(ENV.get("BENCH_NODE_RSS_MESSAGES", "2000" if QUICK else "10000"))
FIRST_RUNS = int(ENV.get("BENCH_FIRST_RUNS", "3" if QUICK else "7"))
CLIENT_TIMEOUT = MAX_SECS + 120  # every wait is bounded: a hung client is killed and fails
PORT = {k: int(ENV[f"BENCH_{k}_PORT"]) for k in ("SINK", "TLS", "DELAY", "SMTPD", "SMTPD_DELAY")}
FROM, TO = "a@bench.test", "b@bench.test"


@dataclass(frozen=True)
class Case:
    id: str
    size: int          # message bytes
    tls: bool
    conns: int
    rtt_ms: int        # 0 or 2 x BENCH_DELAY_MS through the delay proxy
    server: str        # "smtp-sink" or "smtpd" (Postfix, CHUNKING, discard)

    @property
    def port(self) -> int:
        if self.server == "smtpd":
            return PORT["SMTPD_DELAY"] if self.rtt_ms else PORT["SMTPD"]
        return PORT["TLS"] if self.tls else PORT["DELAY"] if self.rtt_ms else PORT["SINK"]

    @property
    def label(self) -> str:
        kib = f"{self.size // 1024} KiB"
        where = "Postfix smtpd (CHUNKING)" if self.server == "smtpd" else "smtp-sink"
        rtt = f", {self.rtt_ms} ms RTT" if self.rtt_ms else ""
        return f"{kib}, {'TLS' if self.tls else 'plain'}, {self.conns} conn{'s' if self.conns > 1 else ''}{rtt}, {where}"


def cases() -> list[Case]:
    rtt = 2 * int(ENV.get("BENCH_DELAY_MS", "10"))
    quick = [Case("1k-plain-1", 1024, False, 1, 0, "smtp-sink"), Case("1k-plain-8", 1024, False, 8, 0, "smtp-sink"),
             Case("1k-tls-1", 1024, True, 1, 0, "smtp-sink"), Case("1k-rtt-1", 1024, False, 1, rtt, "smtp-sink"),
             Case("1k-smtpd-rtt-1", 1024, False, 1, rtt, "smtpd")]
    if QUICK:
        return quick
    return quick[:3] + [
        Case("1k-tls-8", 1024, True, 8, 0, "smtp-sink"),
        Case("100k-plain-1", 102400, False, 1, 0, "smtp-sink"), Case("100k-plain-8", 102400, False, 8, 0, "smtp-sink"),
        Case("100k-tls-1", 102400, True, 1, 0, "smtp-sink"), Case("100k-tls-8", 102400, True, 8, 0, "smtp-sink"),
        quick[3], Case("1k-rtt-8", 1024, False, 8, rtt, "smtp-sink"), quick[4],
    ]


def message_file(size: int) -> Path:
    """The one message every client sends for this size: CRLF lines, no line starts with '.'."""
    p = STATE / f"message-{size}.eml"
    head = f"From: <{FROM}>\r\nTo: <{TO}>\r\nSubject: relaykit bench {size}\r\nMessage-ID: <bench-{size}@bench.test>\r\n\r\n"
    data = head.encode()
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijkl\r\n"
    while len(data) < size:
        data += line
    data = data[: size - 2] + b"\r\n"
    p.write_bytes(data)
    # smtp-source -F reads lines, drops the LF and sends each line + CRLF: it gets the same
    # message with LF line ends (it then sends the same bytes, plus one empty line at the end).
    p.with_suffix(".lf").write_bytes(data.replace(b"\r\n", b"\n"))
    return p


# ---------------------------------------------------------------- clients ----
@dataclass
class Client:
    lang: str
    name: str          # as shown in the table
    relaykit: bool
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    external: bool = False  # smtp-source: no JSON line, the driver times the process


def inflight(c: Case) -> int:
    """Sends in flight for the concurrent clients (tasks, Promise.all, the pools' queues)."""
    return max(32, 8 * c.conns)


def clients(c: Case) -> list[Client]:
    common = ["--host", "127.0.0.1", "--port", str(c.port), "--tls", "1" if c.tls else "0",
              "--ca", str(STATE / "certs" / "ca.crt"), "--message", str(message_file(c.size)),
              "--from", FROM, "--to", TO, "--conns", str(c.conns)]
    rk, py, node = str(TARGET / "release" / "rk-bench"), str(VENV_PY), "node"
    bc, pyb, nb = str(STATE / "bin" / "bench_c"), str(BENCH / "python" / "bench.py"), str(BENCH / "node" / "bench.mjs")
    n, k = str(c.conns), str(inflight(c))
    out: list[Client] = [
        Client("Rust", f"relaykit Mailer, {k} tasks", True, [rk, "--client", "relaykit-tasks", "--concurrency", k] + common),
    ]
    out.append(Client("Rust", "relaykit send_many", True, [rk, "--client", "relaykit-send-many"] + common))
    out.append(Client("Rust", "relaykit send_each (streamed)", True, [rk, "--client", "relaykit-send-each"] + common))
    if c.server == "smtpd":
        # The option's other end: 32 messages ahead, for a server known not to drop the session.
        out.append(Client("Rust", "relaykit send_many, stream_window 32", True,
                          [rk, "--client", "relaykit-send-many", "--stream-window", "32"] + common))
    if not c.tls:
        out.append(Client("Rust", f"smtp-source -d -s {n}", False, [], external=True))
    # lettre's PoolConfig::max_size bounds the idle connections kept, not the open ones: more
    # tasks than connections would open more connections. So one task per connection.
    out.append(Client("Rust", f"lettre pool ({n}) + TCP_NODELAY, {n} task{'s' if c.conns > 1 else ''}", False,
                      [rk, "--client", "lettre-pool", "--concurrency", n] + common,
                      env={"LD_PRELOAD": str(STATE / "bin" / "nodelay.so")}))
    if c.conns == 1:
        out.append(Client("C", "relaykit rk_mailer, 1 thread", True, [bc, "--client", "relaykit", "--threads", "1"] + common))
    out += [
        Client("C", "relaykit rk_mailer, 8 threads", True, [bc, "--client", "relaykit", "--threads", "8"] + common),
        Client("C", "relaykit rk_mailer_send_many", True, [bc, "--client", "relaykit-send-many"] + common),
        Client("C", f"libcurl, {n} handle{'s' if c.conns > 1 else ''} reused", False,
               [bc, "--client", "curl", "--threads", n] + common),
    ]
    if c.conns == 1:
        out.append(Client("Python", "relaykit Mailer, loop", True, [py, pyb, "--client", "relaykit-loop"] + common))
    out.append(Client("Python", "relaykit Mailer, 8 threads", True, [py, pyb, "--client", "relaykit-threads", "--threads", "8"] + common))
    out.append(Client("Python", "relaykit send_many", True, [py, pyb, "--client", "relaykit-send-many"] + common))
    out += [
        Client("Python", f"smtplib, {n} SMTP object{'s' if c.conns > 1 else ''}" + (f", {n} threads" if c.conns > 1 else ""),
               False, [py, pyb, "--client", "smtplib", "--threads", n] + common),
        Client("Python", f"aiosmtplib, {n} client{'s' if c.conns > 1 else ''}", False, [py, pyb, "--client", "aiosmtplib"] + common),
    ]
    if c.conns == 1:
        out.append(Client("Node", "relaykit Mailer, sequential await", True, [node, nb, "--client", "relaykit-seq"] + common))
    out += [
        Client("Node", f"relaykit Mailer, {k} concurrent", True, [node, nb, "--client", "relaykit-concurrent", "--concurrency", k] + common),
        Client("Node", "relaykit sendMany", True, [node, nb, "--client", "relaykit-send-many"] + common),
        Client("Node", f"Nodemailer pool, maxConnections {n}, {k} queued", False,
               [node, nb, "--client", "nodemailer", "--concurrency", k] + common),
    ]
    return out


# ---------------------------------------------------------------- counting ---
def sink_count(c: Case) -> tuple[int, int]:
    """(messages, sessions) the server has seen so far: smtp-sink's -c counters (the last
    `sess=S quit=Q mesg=M` on its stdout; sessions count when they end), or the Postfix
    instance's log (a `status=sent` line per delivery to discard, a `connect from` per session)."""
    if c.server == "smtpd":
        msgs = sess = 0
        with open(STATE / "postfix-bench" / "postfix.log", "rb") as f:
            for line in f:
                msgs += b"status=sent" in line
                sess += b"]: connect from " in line
        return msgs, sess
    with open(STATE / "logs" / "smtp-sink.log", "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 200))
        found = re.findall(rb"sess=(\d+) quit=\d+ mesg=(\d+)", f.read())
    return (int(found[-1][1]), int(found[-1][0])) if found else (0, 0)


def wait_count(c: Case, before: tuple[int, int], expected: int) -> tuple[int, int]:
    """The server's (messages, sessions) since `before`, once the messages reach `expected` or
    stop moving (bounded: Postfix delivers to discard a moment after it accepted, smtp-sink
    counts a session when it sees the client's EOF)."""
    deadline, last, since = time.monotonic() + 20, None, time.monotonic()
    settle = 3 if c.server == "smtpd" else 0.3
    while True:
        now = sink_count(c)
        got = (now[0] - before[0], now[1] - before[1])
        if time.monotonic() > deadline:
            return got
        if got != last:
            last, since = got, time.monotonic()
        elif got[0] >= expected and time.monotonic() - since > 0.1 or time.monotonic() - since > settle:
            return got
        time.sleep(0.02)


def run_process(argv: list[str], env: dict[str, str]) -> tuple[int, str, str, int, float]:
    """Runs argv pinned to the client CPU: (exit status, stdout, stderr, peak RSS KiB, wall s).
    Peak RSS comes from GNU time (%M): its own small fork execs the client, whereas a fork of
    this driver would carry the driver's RSS into the child's high-water mark. Bounded: a client
    still running after CLIENT_TIMEOUT is killed with its whole process group."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile() as rss:
        full = ["taskset", "-c", CLIENT_CPU, "/usr/bin/time", "-f", "%M", "-o", rss.name] + argv
        t0 = time.monotonic()
        p = subprocess.Popen(full, stdout=out, stderr=err, env={**ENV, **env}, start_new_session=True)
        try:
            p.wait(timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        kib = rss.read().decode().strip().splitlines()
        peak = int(kib[-1]) if kib and kib[-1].isdigit() else 0
        return p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), peak, wall


def smtp_source_argv(c: Case) -> tuple[list[str], int]:
    """smtp-source cannot stop at a deadline: it gets a count that fits the time budget (one
    round trip per command, no pipelining: about 4 per message)."""
    m = MESSAGES // (10 if c.size > 10_000 else 1)
    if c.rtt_ms:
        m = max(4 * c.conns, int(MAX_SECS * 1000 / (4 * c.rtt_ms)) * c.conns)
    argv = ["/usr/sbin/smtp-source", "-d", "-s", str(c.conns), "-m", str(m), "-F", str(message_file(c.size).with_suffix(".lf")),
            "-f", FROM, "-t", TO, "-M", "bench.test", f"127.0.0.1:{c.port}"]
    return argv, m


def client_args(c: Case) -> list[str]:
    """The plan's options: 100 KiB cases get a tenth of the messages; warm-up opens every
    connection and excludes it from the clock (fewer messages where each costs round trips)."""
    m = MESSAGES // (10 if c.size > 10_000 else 1)
    warmup = 4 * c.conns if c.rtt_ms else max(20, 10 * c.conns)
    return ["--messages", str(m), "--warmup", str(warmup), "--max-secs", str(MAX_SECS)]


def run_client(c: Case, cl: Client, extra: Optional[list[str]] = None) -> dict[str, Any]:
    before = sink_count(c)
    if cl.external:
        argv, m = smtp_source_argv(c)
        rc, out, err, rss, wall = run_process(argv, cl.env)
        res = {"warmup_sent": 0, "sent": m if rc == 0 else 0, "failed": 0 if rc == 0 else m, "secs": wall,
               "error": None if rc == 0 else (err.strip() or f"exit {rc}")[-300:]}
    else:
        rc, out, err, rss, wall = run_process(cl.argv + (extra if extra is not None else client_args(c)), cl.env)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        try:
            res = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            res = {"sent": 0, "failed": 0, "secs": 0, "error": f"no result line (exit {rc}): {(err or out).strip()[-300:]}"}
    expected = int(res.get("warmup_sent", 0)) + int(res["sent"])
    got, sessions = wait_count(c, before, expected)
    error = res.get("error")
    if rc != 0 and not error:
        error = f"exit {rc}: {err.strip()[-300:]}"
    if not error and res.get("failed"):
        error = f"{res['failed']} sends failed"
    if not error and got != expected:
        error = f"count mismatch: the server received {got}, the client reported {expected}"
    rate = res["sent"] / res["secs"] if res["secs"] else 0.0
    return {"case": c.id, "case_label": c.label, "lang": cl.lang, "client": cl.name, "relaykit": cl.relaykit,
            "msg_per_s": round(rate, 1), "sent": res["sent"], "secs": round(res["secs"], 4),
            "peak_rss_mib": round(rss / 1024, 1), "server_count": got, "connections": sessions, "ok": error is None, "error": error}


def first_test() -> dict[str, Any]:
    """The #11 "first Test in a fresh process" figure: median of FIRST_RUNS fresh processes each."""
    common = ["--host", "127.0.0.1", "--port", str(PORT["TLS"]), "--ca", str(STATE / "certs" / "ca.crt"),
              "--message", str(message_file(1024))]
    fc = str(TARGET / "release" / "first-connect")
    who = {"relaykit C rk_test": [str(STATE / "bin" / "first_test")] + common,
           "relaykit Rust relaykit::test": [fc, "--client", "relaykit-rust"] + common,
           "lettre rustls (system store + CA)": [fc, "--client", "lettre-native"] + common,
           "lettre rustls (webpki-roots + CA)": [fc, "--client", "lettre-webpki"] + common}
    out: dict[str, Any] = {}
    for name, argv in who.items():
        times, errors = [], []
        for _ in range(FIRST_RUNS):
            rc, so, se, _, _ = run_process(argv, {})
            try:
                r = json.loads(so.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                r = {"error": f"exit {rc}: {se.strip()[-200:]}"}
            if r.get("error"):
                errors.append(r["error"])
            else:
                times.append(r["secs"] * 1000)
        out[name] = {"median_ms": round(statistics.median(times), 2) if times else None,
                     "runs_ms": [round(t, 2) for t in times], "error": errors[0] if errors else None}
    return out


def fixed_count(pick: Callable[[Client], bool], messages: int, what: str) -> list[dict[str, Any]]:
    """The picked clients of the 1 KiB, plain, 1-connection case, each sending exactly
    `messages` messages (no deadline): peak RSS compared at the same amount of work."""
    c = Case("rss", 1024, False, 1, 0, "smtp-sink")
    out = []
    for cl in filter(pick, clients(c)):
        r = run_client(c, cl, ["--messages", str(messages), "--warmup", "20", "--max-secs", "600"])
        r["case_label"] = f"{messages:,} x 1 KiB, plain, 1 conn, smtp-sink ({what})"
        out.append(r)
    return out


def stream_rss() -> list[dict[str, Any]]:
    """Rust streaming STREAM_MESSAGES messages (tasks calling send, and send_each over an
    iterator: neither holds all the messages); Node's Mailer and Nodemailer on NODE_RSS_MESSAGES
    with the same sends in flight."""
    rust = fixed_count(lambda cl: cl.lang == "Rust" and ("tasks" in cl.name or "send_each" in cl.name),
                       STREAM_MESSAGES, "Rust streaming, peak RSS")
    node = fixed_count(lambda cl: cl.lang == "Node" and ("concurrent" in cl.name or not cl.relaykit), NODE_RSS_MESSAGES,
                       "Node, the same count, peak RSS")
    return rust + node


# ---------------------------------------------------------------- report -----
PRIMARY_PEER = {"Rust": ("smtp-source", "lettre"), "C": ("libcurl",), "Python": ("smtplib",), "Node": ("Nodemailer",)}


def peer_rate(runs: list[dict[str, Any]], case: str, prefix: str) -> Optional[tuple[float, str]]:
    for r in runs:
        if r["case"] == case and not r["relaykit"] and r["ok"] and r["client"].startswith(prefix):
            return r["msg_per_s"], r["client"]
    return None


def best_relaykit(runs: list[dict[str, Any]], case: str, lang: str, tuned: bool = False) -> Optional[tuple[float, str]]:
    """The fastest relaykit client with the core's default options (or, `tuned`, only the
    ones with a non-default option such as stream_window 32)."""
    mine = [r for r in runs if r["case"] == case and r["lang"] == lang and r["relaykit"] and r["ok"]
            and ("stream_window" in r["client"]) == tuned]
    return max(((r["msg_per_s"], r["client"]) for r in mine), default=None)


def reference(runs: list[dict[str, Any]], r: dict[str, Any]) -> Optional[tuple[float, str]]:
    for prefix in PRIMARY_PEER[r["lang"]]:
        p = peer_rate(runs, r["case"], prefix)
        if p:
            return p
    return None


TARGETS = [  # (#11's words, case, relaykit language, peer's client-name prefix, factor)
    ("1 conn: Rust mailer >= 3.5x smtp-source -d", "1k-plain-1", "Rust", "smtp-source", 3.5),
    ("1 conn: C mailer >= 3.5x smtp-source -d", "1k-plain-1", "C", "smtp-source", 3.5),
    ("1 conn: Python >= 4x smtplib", "1k-plain-1", "Python", "smtplib", 4),
    ("1 conn: Node >= 4x Nodemailer pool", "1k-plain-1", "Node", "Nodemailer", 4),
    ("1 conn: C >= 4x libcurl", "1k-plain-1", "C", "libcurl", 4),
    ("8 conns: Rust >= 2x smtp-source -s 8", "1k-plain-8", "Rust", "smtp-source", 2),
    ("8 conns: C >= 2x smtp-source -s 8", "1k-plain-8", "C", "smtp-source", 2),
    ("TLS, 1 conn: C >= 2x libcurl", "1k-tls-1", "C", "libcurl", 2),
    ("TLS, 1 conn: Python >= 2x smtplib", "1k-tls-1", "Python", "smtplib", 2),
    ("20 ms RTT, 1 conn: C >= 3x libcurl", "1k-rtt-1", "C", "libcurl", 3),
    ("20 ms RTT, 1 conn: Python >= 3x smtplib", "1k-rtt-1", "Python", "smtplib", 3),
] + [(f"CHUNKING smtpd, 20 ms RTT, 1 conn: {lang} >= 20x smtplib", "1k-smtpd-rtt-1", lang, "smtplib", 20)
     for lang in ("Rust", "C", "Python", "Node")]


def evaluate(runs: list[dict[str, Any]], stream: list[dict[str, Any]], first: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for text, case, lang, prefix, factor in TARGETS:
        mine, peer = best_relaykit(runs, case, lang), peer_rate(runs, case, prefix)
        ratio = mine[0] / peer[0] if mine and peer and peer[0] else None
        out.append({"target": text, "measured": f"{ratio:.2f}x" if ratio else "n/a",
                    "detail": f"{mine[1]} {mine[0]:,.0f} vs {peer[1]} {peer[0]:,.0f} msg/s" if ratio else "not measured",
                    "met": None if ratio is None else ratio >= factor})
    mine, peer = best_relaykit(runs, "1k-smtpd-rtt-1", "Rust", tuned=True), peer_rate(runs, "1k-smtpd-rtt-1", "smtplib")
    if mine and peer and peer[0]:
        out.append({"target": "CHUNKING smtpd, 20 ms RTT, 1 conn, Rust with stream_window 32 (not the default): >= 20x smtplib",
                    "measured": f"{mine[0] / peer[0]:.2f}x", "met": mine[0] / peer[0] >= 20,
                    "detail": f"{mine[1]} {mine[0]:,.0f} vs {peer[1]} {peer[0]:,.0f} msg/s"})
    for st in (r for r in stream if r["lang"] == "Rust"):
        out.append({"target": f"Rust client peak RSS <= 10 MiB streaming {STREAM_MESSAGES:,} messages ({st['client']})",
                    "measured": f"{st['peak_rss_mib']} MiB", "met": st["ok"] and st["peak_rss_mib"] <= 10,
                    "detail": f"{st['msg_per_s']:,.0f} msg/s" + ("" if st["ok"] else f" ({st['error']})")})
    node = [r for r in stream if r["lang"] == "Node" and r["ok"]]
    rk_rss = max((r["peak_rss_mib"] for r in node if r["relaykit"]), default=None)
    nm_rss = max((r["peak_rss_mib"] for r in node if not r["relaykit"]), default=None)
    if rk_rss is not None and nm_rss is not None:
        out.append({"target": f"Node peak RSS <= Nodemailer's ({NODE_RSS_MESSAGES:,} messages each, {inflight(Case('', 0, False, 1, 0, ''))} in flight)",
                    "measured": f"{rk_rss} vs {nm_rss} MiB", "detail": "relaykit Mailer vs Nodemailer pool", "met": rk_rss <= nm_rss})
    if first:
        rk, lt = first["relaykit C rk_test"]["median_ms"], first["lettre rustls (system store + CA)"]["median_ms"]
        if rk and lt:
            out.append({"target": "first TLS Test in a fresh process: relaykit C <= lettre rustls", "met": rk <= lt,
                        "measured": f"{rk:.1f} vs {lt:.1f} ms", "detail": "median of fresh processes"})
    return out


def summary(runs: list[dict[str, Any]]) -> list[str]:
    """One row per case: each language's best relaykit msg/s, its reference peer's, the ratio."""
    langs = list(PRIMARY_PEER)
    lines = ["| case | " + " | ".join(f"{lang}: relaykit / {PRIMARY_PEER[lang][0]}" for lang in langs) + " |",
             "|---|" + "---:|" * len(langs)]
    for case in dict.fromkeys(r["case"] for r in runs):
        cells = []
        for lang in langs:
            mine = best_relaykit(runs, case, lang)
            ref = next((reference(runs, r) for r in runs if r["case"] == case and r["lang"] == lang), None)
            if mine and ref and ref[0]:
                peer = "" if ref[1].startswith(PRIMARY_PEER[lang][0]) else f" ({ref[1].split(' ')[0]})"
                cells.append(f"{mine[0]:,.0f} / {ref[0]:,.0f}{peer} = **{mine[0] / ref[0]:.2f}x**")
            else:
                cells.append("n/a")
        label = next(r["case_label"] for r in runs if r["case"] == case)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def render(runs: list[dict[str, Any]], targets: list[dict[str, Any]], stream: list[dict[str, Any]],
           first: Optional[dict[str, Any]]) -> str:
    lines = summary(runs) + [""] + ["| case | language | client | msg/s | relaykit/peer | peak RSS MiB | conns | |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    shown = ""
    for r in runs + stream:
        ratio = ""
        if r["relaykit"] and r["ok"] and r["case"] != "rss":
            ref = reference(runs, r)
            ratio = f"{r['msg_per_s'] / ref[0]:.2f}x {ref[1].split(',')[0]}" if ref and ref[0] else ""
        label = r["case_label"] if r["case_label"] != shown else ""
        shown = r["case_label"]
        status = "" if r["ok"] else f"FAILED: {r['error']}"
        lines.append(f"| {label} | {r['lang']} | {r['client']} | {r['msg_per_s']:,.0f} | {ratio} | {r['peak_rss_mib']} | {r['connections']} | {status} |")
    lines += ["", "| #11 target | measured | | |", "|---|---|---|---|"]
    verdict = {True: "met", False: "MISSED", None: "not run"}
    lines += [f"| {t['target']} | {t['measured']} | {verdict[t['met']]} | {t['detail']} |" for t in targets]
    if first:
        lines += ["", "| first TLS Test in a fresh process | median ms | runs |", "|---|---:|---|"]
        lines += [f"| {k} | {v['median_ms']} | {v['runs_ms'] if not v['error'] else 'FAILED: ' + v['error']} |" for k, v in first.items()]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "latest.json")
    ap.add_argument("--only", default="", help="comma-separated case ids, 'stream', 'first' (default: all)")
    args = ap.parse_args()
    want = set(args.only.split(",")) if args.only else None
    chosen = [c for c in cases() if want is None or c.id in want]
    runs: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for c in chosen:
        print(f"== {c.label}", file=sys.stderr, flush=True)
        for cl in clients(c):
            r = run_client(c, cl)
            runs.append(r)
            note = "" if r["ok"] else f"  FAILED: {r['error']}"
            print(f"   {cl.lang:6} {cl.name:48} {r['msg_per_s']:>10,.0f} msg/s {r['peak_rss_mib']:>7} MiB {r['connections']:>3} conns{note}",
                  file=sys.stderr, flush=True)
    stream = stream_rss() if want is None or "stream" in want else []
    first = first_test() if want is None or "first" in want else None
    targets = evaluate(runs, stream, first)
    table = render(runs, targets, stream, first)
    print(table)
    meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": QUICK, "host": platform.node(),
            "cpus": os.cpu_count(), "client_cpu": CLIENT_CPU, "server_cpu": ENV.get("BENCH_SERVER_CPU", "1"),
            "messages": MESSAGES, "max_secs": MAX_SECS, "seconds": round(time.monotonic() - t0, 1),
            "kernel": platform.release()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "runs": runs, "stream": stream, "first_test": first,
                                    "targets": targets, "table_markdown": table}, indent=1) + "\n")
    print(f"\nwritten: {args.out}", file=sys.stderr)
    failed = [r for r in runs + stream if not r["ok"]]
    failed += [{"client": k, "error": v["error"]} for k, v in (first or {}).items() if v["error"]]
    for f in failed:
        print(f"FAILED: {f['client']}: {f['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
