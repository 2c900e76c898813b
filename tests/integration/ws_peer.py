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
  ws_peer.py sink URL MIB
      Sends MIB messages of 1 MiB to the server path /sink, which reads them
      slowly (2 ms each) and answers "got BYTES" to a final "end"; prints
      that answer.
  ws_peer.py many URL COUNT
      Opens COUNT connections, checks one echo on each, prints "open COUNT",
      then holds them until killed.
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
        if path == "/sink":
            total = 0
            async for message in ws:
                if message == "end":
                    await ws.send(f"got {total}")
                    continue
                total += len(message)
                await asyncio.sleep(0.002)  # a slow reader
            return
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


async def sink(url, mib):
    payload = bytes(i % 251 for i in range(1024 * 1024))
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        for _ in range(mib):
            await ws.send(payload)
        await ws.send("end")
        print(await ws.recv(), flush=True)
    return 0


async def many(url, count):
    conns = []
    for _ in range(count):
        ws = await websockets.connect(url, max_size=None, compression=None)
        await ws.send("x")
        if await ws.recv() != "x":
            return 1
        conns.append(ws)
    print(f"open {count}", flush=True)
    await asyncio.Future()


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
    if argv[1] == "sink":
        return asyncio.run(sink(argv[2], int(argv[3])))
    if argv[1] == "many":
        return asyncio.run(many(argv[2], int(argv[3])))
    if argv[1] == "hold":
        return asyncio.run(hold(argv[2], argv))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
