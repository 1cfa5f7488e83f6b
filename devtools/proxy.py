"""TCP proxies the multi-host fault runs put between hosts (bench/hosts.py).

    balance  the members' load balancer: each connection to one web host, round-robin over
             those that accept (one that refuses or does not answer in a second is left out
             for a few seconds); the client's address goes to the web host in
             X-Forwarded-For, which the forum believes from TRUSTED_PROXIES (config/proxies.py).
             A web host that dies before answering gets the client a 502, none left: a 503
             with Retry-After.
    delay    a slow link (`tc netem` is not available): every chunk leaves `--delay` seconds
             after it came in, in order, each way. SIGUSR1 turns the delay on, SIGUSR2 off
             (off at start unless --on), so a run can slow a link already in use.

    python -m devtools.proxy balance --listen 10.77.0.1:8000 --to 10.77.0.5:8000 --to 10.77.0.6:8000
    python -m devtools.proxy delay --listen 127.0.0.1:5432 --to 10.77.0.2:5432 --delay 0.1 --on

The balancer reads only the request's head, to add its header: one request per connection
(the fault runs' clients send `Connection: close`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time

HEAD_LIMIT = 65536
CONNECT_TIMEOUT = 1.0
DOWN_FOR = 5.0  # seconds a web host that refused is left out


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdecimal():
        raise argparse.ArgumentTypeError(f"{text!r}: give host:port, as 10.77.0.5:8000")
    return host, int(port)


async def pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: Delay | None = None,
    *,
    eof: bool = True,
) -> int:
    """Copy until EOF, then half-close the other side (unless `eof` is False); returns the
    bytes copied. With a `delay`, each chunk is written `delay.seconds` after it was read
    (0 while it is off)."""
    copied = 0
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + (delay.seconds if delay else 0.0), data))
            if not data:
                break
            copied += len(data)
        await sender
        with contextlib.suppress(OSError):
            if eof and writer.can_write_eof():
                writer.write_eof()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        sender.cancel()
    return copied


async def _close(*writers: asyncio.StreamWriter) -> None:
    for writer in writers:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class Delay:
    def __init__(self, seconds: float, on: bool) -> None:
        self.configured, self.on = seconds, on

    @property
    def seconds(self) -> float:
        return self.configured if self.on else 0.0


async def serve_delay(listen: tuple[str, int], target: tuple[str, int], delay: Delay) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            await _close(writer)
            return
        await asyncio.gather(pipe(reader, up_writer, delay), pipe(up_reader, writer, delay))
        await _close(up_writer, writer)

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: setattr(delay, "on", True))
    loop.add_signal_handler(signal.SIGUSR2, lambda: setattr(delay, "on", False))
    server = await asyncio.start_server(handle, *listen)
    async with server:
        await server.serve_forever()


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.next = 0
        self.down_until = {backend: 0.0 for backend in backends}

    def order(self) -> list[tuple[str, int]]:
        """Every backend, starting with the next in turn, those left out last."""
        self.next = (self.next + 1) % len(self.backends)
        turn = self.backends[self.next :] + self.backends[: self.next]
        now = time.monotonic()
        return sorted(turn, key=lambda backend: self.down_until[backend] > now)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            await _close(writer)
            return
        line, _, rest = head.partition(b"\r\n")
        head = line + b"\r\nX-Forwarded-For: " + peer.encode() + b"\r\n" + rest
        for backend in self.order():
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*backend), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                self.down_until[backend] = time.monotonic() + DOWN_FOR
                continue
            up_writer.write(head)
            request = asyncio.create_task(pipe(reader, up_writer))
            # The web host closes after its answer (Connection: close); then so do we.
            if not await pipe(up_reader, writer, eof=False):  # it went away before answering
                await _reply(writer, b"502 Bad Gateway", b"")
            request.cancel()
            await _close(up_writer, writer)
            return
        await _reply(writer, b"503 Service Unavailable", b"Retry-After: 1\r\n")
        await _close(writer)


async def _reply(writer: asyncio.StreamWriter, status: bytes, headers: bytes) -> None:
    with contextlib.suppress(OSError):
        writer.write(
            b"HTTP/1.1 " + status + b"\r\n" + headers + b"Content-Length: 0\r\n"
            b"Connection: close\r\n\r\n"
        )
        await writer.drain()


async def serve_balancer(listen: tuple[str, int], backends: list[tuple[str, int]]) -> None:
    balancer = Balancer(backends)
    server = await asyncio.start_server(balancer.handle, *listen, limit=HEAD_LIMIT, backlog=512)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    balance = sub.add_parser("balance", help="round-robin HTTP load balancer")
    balance.add_argument("--listen", type=address, required=True)
    balance.add_argument("--to", type=address, action="append", required=True)
    slow = sub.add_parser("delay", help="a TCP link that adds --delay each way")
    slow.add_argument("--listen", type=address, required=True)
    slow.add_argument("--to", type=address, required=True)
    slow.add_argument("--delay", type=float, required=True, help="seconds, each way")
    slow.add_argument("--on", action="store_true", help="delay from the start")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        if args.kind == "balance":
            asyncio.run(serve_balancer(args.listen, args.to))
        else:
            asyncio.run(serve_delay(args.listen, args.to, Delay(args.delay, args.on)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
