#!/usr/bin/python3
"""WebSocket peers for the tunnel tests, on Debian's python3-websockets.

  ws_peer.py server
      An echo server on 127.0.0.1:<free port>; prints "port N" first.
  ws_peer.py client URL COUNT [--ca FILE --name HOST]
      Connects (through the proxy), sends COUNT messages of growing size (the
      last one 1 MiB), checks each echo, closes; prints "ok COUNT BYTES" where
      BYTES is the payload sent, and exits 0 (1 on any mismatch or error).
      Sends a ping first and waits for its pong.
  ws_peer.py server-closes URL
      Sends one message to a server path /close: the server echoes it, then
      closes (code 1000); prints "closed by server CODE".
  ws_peer.py hold URL [--ca FILE --name HOST]
      Connects, checks one echo, prints "open", then waits until the other
      side closes the connection and prints "closed".
"""
import asyncio
import ssl
import sys

import websockets


async def serve():
    async def echo(ws, path=None):
        path = path if path is not None else ws.path
        async for message in ws:
            await ws.send(message)
            if path == "/close":
                await ws.close(1000)

    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"port {port}", flush=True)
        await asyncio.Future()


def connect_args(argv):
    kwargs = {"max_size": None, "compression": None}
    if "--ca" in argv:
        ctx = ssl.create_default_context(cafile=argv[argv.index("--ca") + 1])
        kwargs["ssl"] = ctx
        kwargs["server_hostname"] = argv[argv.index("--name") + 1]
    return kwargs


async def client(url, count, argv):
    sent = 0
    async with websockets.connect(url, **connect_args(argv)) as ws:
        await (await ws.ping())  # the pong comes back through the tunnel
        for i in range(count):
            size = 1024 * 1024 if i == count - 1 else 10 * (i + 1)
            payload = bytes((i + j) % 251 for j in range(size))
            await ws.send(payload)
            echo = await ws.recv()
            if echo != payload:
                print(f"mismatch on message {i}", flush=True)
                return 1
            sent += size
    print(f"ok {count} {sent}", flush=True)
    return 0


async def server_closes(url):
    async with websockets.connect(url, **connect_args([])) as ws:
        await ws.send("bye")
        if await ws.recv() != "bye":
            return 1
        try:
            await ws.recv()
        except websockets.ConnectionClosed as closed:
            print(f"closed by server {closed.rcvd.code if closed.rcvd else 'none'}", flush=True)
            return 0
    return 1


async def hold(url, argv):
    async with websockets.connect(url, **connect_args(argv)) as ws:
        await ws.send("hello")
        if await ws.recv() != "hello":
            return 1
        print("open", flush=True)
        try:
            await ws.recv()
        except websockets.ConnectionClosed:
            pass
        print("closed", flush=True)
    return 0


def main(argv):
    if argv[1] == "server":
        asyncio.run(serve())
        return 0
    if argv[1] == "client":
        return asyncio.run(client(argv[2], int(argv[3]), argv))
    if argv[1] == "server-closes":
        return asyncio.run(server_closes(argv[2]))
    if argv[1] == "hold":
        return asyncio.run(hold(argv[2], argv))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
