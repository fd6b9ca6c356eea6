"""The Python clients of the mailer benchmark (bench/driver.py runs them; see bench/README.md).

  relaykit-loop       one relaykit.Mailer, send() in a loop
  relaykit-threads    one relaykit.Mailer shared by --threads threads (GIL released in send)
  relaykit-send-many  one relaykit.Mailer, send_many() on batches of about a quarter second's
                      worth (16 to 1,000 messages), from 2 threads (two batches in flight)
  smtplib             one smtplib.SMTP (SMTP_SSL for TLS) per thread, reused: --threads of them
  aiosmtplib          one aiosmtplib.SMTP per connection, --conns of them on one event loop

Options as for every client (--host --port --tls --ca --message --from --to --messages
--warmup --max-secs --conns --threads); prints one JSON line.
"""
from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
import sys
import threading
import time
from typing import Any, Callable, Optional


def parse_args(argv: list[str]) -> dict[str, str]:
    if len(argv) % 2:
        raise SystemExit("expected --key value pairs")
    return {k.removeprefix("--"): v for k, v in zip(argv[::2], argv[1::2])}


class Plan:
    """Message numbers handed to the workers: the warm-up, then the timed phase (count and
    deadline)."""

    def __init__(self, warmup: int, messages: int, max_secs: float) -> None:
        self.warmup, self.messages, self.max_secs = warmup, messages, max_secs
        self.next, self.limit, self.deadline = 0, warmup, float("inf")
        self.lock = threading.Lock()
        self.sent = self.failed = 0
        self.error: Optional[str] = None

    def take(self) -> bool:
        with self.lock:
            if time.monotonic() >= self.deadline or self.next >= self.limit:
                return False
            self.next += 1
            return True

    def record(self, ok: bool, err: Optional[BaseException] = None) -> None:
        with self.lock:
            if ok:
                self.sent += 1
            else:
                self.failed += 1
                self.error = self.error or f"{type(err).__name__}: {err}"

    def start_timed(self) -> tuple[int, int, Optional[str]]:
        with self.lock:
            warm = (self.sent, self.failed, self.error)
            self.sent = self.failed = 0
            self.error = None
            self.next, self.limit = self.warmup, self.warmup + self.messages
            self.deadline = time.monotonic() + self.max_secs
            return warm


def phases(plan: Plan, run_phase: Callable[[], None]) -> None:
    run_phase()
    warm = plan.start_timed()
    t0 = time.monotonic()
    run_phase()
    secs = time.monotonic() - t0
    print(json.dumps({"warmup_sent": warm[0], "warmup_failed": warm[1], "sent": plan.sent,
                      "failed": plan.failed, "secs": secs, "error": warm[2] or plan.error}), flush=True)


def threaded(n: int, worker: Callable[[int], None]) -> Callable[[], None]:
    """A phase of `n` fresh threads, the i-th running worker(i)."""
    def run() -> None:
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return run


def relaykit_client(a: dict[str, str], plan: Plan, body: bytes, mode: str) -> None:
    import relaykit

    keys: dict[str, Any] = {"port": int(a["port"]), "helo_name": "bench.test"}
    if a.get("tls") == "1":
        keys.update(encrypted_connection=True, tls_mode="implicit", tls_ca_file=a["ca"])
    else:
        keys["starttls"] = "never"
    profile = relaykit.Profile(a.get("host", "127.0.0.1"), **keys)
    mailer = relaykit.Mailer(profile, max_connections=int(a.get("conns", "1")),
                             max_messages_per_connection=1_000_000_000)
    msg = relaykit.Message(a["from"], to=[a["to"]], raw=body)

    def worker(_: int) -> None:
        while plan.take():
            try:
                mailer.send(msg)
                plan.record(True)
            except Exception as e:  # noqa: BLE001 - counted and reported
                plan.record(False, e)

    size = [16]  # messages per send_many call: about a quarter second's worth (16 to 1,000)

    def batches(_: int) -> None:
        while True:
            n = 0
            while n < size[0] and plan.take():
                n += 1
            if not n:
                return
            t0 = time.monotonic()
            for outcome in mailer.send_many([msg] * n):
                failed = isinstance(outcome, BaseException)
                plan.record(not failed, outcome if failed else None)
            size[0] = max(16, min(1000, int(n / max(time.monotonic() - t0, 1e-6) / 4)))

    if mode == "send-many":
        # Two batches in flight, so that the connections do not drain between batches.
        phases(plan, threaded(2, batches))
    else:
        phases(plan, threaded(int(a.get("threads", "1")) if mode == "threads" else 1, worker))
    mailer.close()


def smtplib_client(a: dict[str, str], plan: Plan, body: bytes) -> None:
    host, port, tls = a.get("host", "127.0.0.1"), int(a["port"]), a.get("tls") == "1"
    n = int(a.get("threads", "1"))
    conns: list[smtplib.SMTP] = []
    for _ in range(n):
        if tls:
            ctx = ssl.create_default_context(cafile=a["ca"])
            conns.append(smtplib.SMTP_SSL(host, port, local_hostname="bench.test", context=ctx))
        else:
            conns.append(smtplib.SMTP(host, port, local_hostname="bench.test"))

    def worker(i: int) -> None:
        while plan.take():
            try:
                conns[i].sendmail(a["from"], [a["to"]], body)
                plan.record(True)
            except Exception as e:  # noqa: BLE001
                plan.record(False, e)

    phases(plan, threaded(n, worker))
    for s in conns:
        s.quit()


def aiosmtplib_client(a: dict[str, str], plan: Plan, body: bytes) -> None:
    import aiosmtplib

    async def main() -> None:
        tls = a.get("tls") == "1"
        ctx = ssl.create_default_context(cafile=a["ca"]) if tls else None
        clients = []
        for _ in range(int(a.get("conns", "1"))):
            c = aiosmtplib.SMTP(hostname=a.get("host", "127.0.0.1"), port=int(a["port"]), use_tls=tls,
                                start_tls=False, tls_context=ctx, local_hostname="bench.test")
            await c.connect()
            clients.append(c)

        async def worker(c: Any) -> None:
            while plan.take():
                try:
                    await c.sendmail(a["from"], [a["to"]], body)
                    plan.record(True)
                except Exception as e:  # noqa: BLE001
                    plan.record(False, e)

        async def phase() -> None:
            await asyncio.gather(*(worker(c) for c in clients))

        await phase()
        warm = plan.start_timed()
        t0 = time.monotonic()
        await phase()
        secs = time.monotonic() - t0
        print(json.dumps({"warmup_sent": warm[0], "warmup_failed": warm[1], "sent": plan.sent,
                          "failed": plan.failed, "secs": secs, "error": warm[2] or plan.error}), flush=True)
        for c in clients:
            await c.quit()

    asyncio.run(main())


def main() -> int:
    a = parse_args(sys.argv[1:])
    plan = Plan(int(a.get("warmup", "20")), int(a.get("messages", "1000")), float(a.get("max-secs", "5")))
    with open(a["message"], "rb") as f:
        body = f.read()
    client = a.get("client", "")
    try:
        if client.startswith("relaykit-"):
            relaykit_client(a, plan, body, client.removeprefix("relaykit-"))
        elif client == "smtplib":
            smtplib_client(a, plan, body)
        elif client == "aiosmtplib":
            aiosmtplib_client(a, plan, body)
        else:
            raise SystemExit(f"unknown --client {client!r}")
    except Exception as e:  # noqa: BLE001 - the driver reads the JSON line
        print(json.dumps({"sent": 0, "failed": 0, "secs": 0, "error": f"{type(e).__name__}: {e}"}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
