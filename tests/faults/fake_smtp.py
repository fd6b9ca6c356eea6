#!/usr/bin/env python3
"""A scripted fake SMTP server for the mailer's fault tests (role "faults" of tests/servers).

Why a fake: it produces faults that Postfix (or any real server) cannot be made to produce on
demand; every other fault test uses a real Postfix listener (idle, connlimit, ratelimit).
  - drop-after-dot: the connection is closed after a message's final "." without a reply
    (the ambiguous case: the client cannot know whether the message was queued);
  - out-of-order or missing replies to pipelined commands (a broken server or middlebox).

Plain SMTP with PIPELINING, no TLS, no AUTH. The fault is chosen per transaction by the local
part of its first recipient, so one server serves every test and a normal message can follow a
faulty one on the same mailer:
  drop-after-dot@...  the data of each Message-ID is read and recorded, then the connection is
                      closed without a reply, the first time that Message-ID arrives; later
                      times it is accepted (a retry shows as a second DATA for the same ID)
  out-of-order@...    the pipelined MAIL, RCPT, DATA are answered 354, 250, 250 (DATA's reply
                      first)
  missing-reply@...   RCPT's reply is left out: 250 (MAIL), then 354 (DATA)
  anything else       accepted
Every connection, fault and message is appended to --record as a JSON line, written before the
client can see the outcome (so a test reads it without waiting):
  {"conn": 3, "event": "connect"}
  {"conn": 3, "event": "fault", "mode": "out-of-order", "rcpt": ["out-of-order+t1@x.test"]}
  {"conn": 3, "event": "data", "message_id": "<a@b>", "rcpt": ["x@y"], "outcome": "dropped"}
"""

import argparse
import asyncio
import itertools
import json
import sys

EHLO = b"250-fake-faults.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE 31457280\r\n"
MODES = ("drop-after-dot", "out-of-order", "missing-reply")


class Server:
    def __init__(self, record):
        self.record_path = record
        self.conns = itertools.count(1)
        self.dropped = set()  # Message-IDs dropped once already

    def record(self, **event):
        with open(self.record_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    async def handle(self, reader, writer):
        conn = next(self.conns)
        self.record(conn=conn, event="connect")
        try:
            await Session(self, conn, reader, writer).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            writer.close()


def mode_of(rcpts):
    """The fault for a transaction: its first recipient's local part, less any "+tag"."""
    local = rcpts[0].split("@", 1)[0].split("+", 1)[0].lower() if rcpts else ""
    return local if local in MODES else "normal"


def address(arg):
    """The address of `FROM:<a@b> SIZE=1` or `TO:<a@b>`."""
    _, _, rest = arg.partition(":")
    return rest.strip().split(" ", 1)[0].strip("<>")


def message_id(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    for line in head.split("\r\n"):
        if line.lower().startswith("message-id:"):
            return line.split(":", 1)[1].strip()
    return None


class Session:
    def __init__(self, server, conn, reader, writer):
        self.server, self.conn, self.reader, self.writer = server, conn, reader, writer
        self.held = []  # replies to MAIL and RCPT, held until DATA (RFC 2920 allows it)
        self.rcpts = []
        self.mail = False

    async def send(self, *lines):
        self.writer.write(b"".join(lines))
        await self.writer.drain()

    async def run(self):
        await self.send(b"220 fake-faults.test ESMTP scripted fault server\r\n")
        while True:
            line = await self.reader.readline()
            if not line:
                return
            verb, _, arg = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self.reset()
                await self.send(EHLO if verb == "EHLO" else b"250 fake-faults.test\r\n")
            elif verb == "MAIL":
                self.reset()
                self.mail = True
                self.held.append(b"250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                self.rcpts.append(address(arg))
                self.held.append(b"250 2.1.5 Ok\r\n" if self.mail else b"503 5.5.1 Error: need MAIL command\r\n")
            elif verb == "DATA":
                if not await self.data():
                    return
            elif verb == "RSET":
                self.reset()
                await self.flush(b"250 2.0.0 Ok\r\n")
            elif verb == "NOOP":
                await self.flush(b"250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                await self.flush(b"221 2.0.0 Bye\r\n")
                return
            else:
                await self.flush(b"502 5.5.2 Error: command not recognized\r\n")

    def reset(self):
        self.mail, self.rcpts = False, []

    async def flush(self, *lines):
        held, self.held = self.held, []
        await self.send(*held, *lines)

    async def data(self):
        """Answers DATA and reads the message; False when the connection is to be dropped."""
        mode = mode_of(self.rcpts)
        if not (self.mail and self.rcpts):
            await self.flush(b"503 5.5.1 Error: need RCPT command\r\n")
            return True
        go = b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if mode == "out-of-order":
            self.server.record(conn=self.conn, event="fault", mode=mode, rcpt=self.rcpts)
            held, self.held = self.held, []
            await self.send(go, *held)
        elif mode == "missing-reply":
            self.server.record(conn=self.conn, event="fault", mode=mode, rcpt=self.rcpts)
            held, self.held = self.held, []
            await self.send(held[0], go)
        else:
            await self.flush(go)
        body = await self.read_data()
        if body is None:
            return False
        mid = message_id(body)
        drop = mode == "drop-after-dot" and mid not in self.server.dropped
        self.server.record(conn=self.conn, event="data", message_id=mid, rcpt=self.rcpts,
                           outcome="dropped" if drop else "accepted")
        if drop:
            self.server.dropped.add(mid)
            return False
        self.reset()
        await self.send(b"250 2.0.0 Ok: queued as FAKE%d\r\n" % self.conn)
        return True

    async def read_data(self):
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                return None
            if line == b".\r\n":
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b".") else line)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--record", required=True, help="JSON-lines file of connections, faults and messages")
    a = ap.parse_args()
    server = await asyncio.start_server(Server(a.record).handle, a.host, a.port)
    print(f"fake_smtp: listening on {a.host}:{a.port}, recording to {a.record}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
