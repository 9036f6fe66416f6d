#!/usr/bin/env python3
"""A trivial MQTT sink for `scripts/bench broker`: the load generator's ceiling without a broker's work.

It answers CONNECT with CONNACK and SUBSCRIBE with SUBACK, discards everything publishers send, and floods every
subscriber with the same pre-encoded QoS 0 PUBLISH packets (payload in `tern bench`'s format: publisher 0,
sequence numbers, a zero time stamp). `tern bench --scenario fan-in` against it shows how many messages per second
the generator can send (sent_per_s) and receive and check (received_per_s). MQTT 5 and 3.1.1 clients.
Prints `listening on PORT` once ready. Usage: scripts/bench_sink.py [PAYLOAD_SIZE]
"""
import asyncio
import struct
import sys

from bench_broker import encode_length

PAYLOAD = int(sys.argv[1]) if len(sys.argv) > 1 else 64


def publish_burst(version5: bool, start: int, count: int) -> bytes:
    topic = b"bench/sink/in/0"
    packets = []
    for sequence in range(start, start + count):
        payload = struct.pack(">IQQ", 0, sequence, 0) + b"a" * (PAYLOAD - 20)
        body = struct.pack(">H", len(topic)) + topic + (b"\x00" if version5 else b"") + payload
        packets.append(b"\x30" + encode_length(len(body)) + body)
    return b"".join(packets)


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first >> 4, await reader.readexactly(length)


async def flood(writer: asyncio.StreamWriter, version5: bool) -> None:
    # The same burst again and again (the generator counts the repeats as duplicates, which does not matter here);
    # sleep(0) lets the other connections be served, since drain() does not yield while the socket takes it all.
    burst = publish_burst(version5, 0, 2000)
    while not writer.is_closing():
        writer.write(burst)
        await writer.drain()
        await asyncio.sleep(0)


async def discard(reader: asyncio.StreamReader) -> None:
    while await reader.read(1 << 20):
        pass


async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        kind, body = await read_packet(reader)
        if kind != 1:
            return
        version5 = body[6] == 5
        writer.write(b"\x20\x03\x00\x00\x00" if version5 else b"\x20\x02\x00\x00")
        await writer.drain()
        reader_task = None
        while True:
            kind, body = await read_packet(reader)
            if kind == 8:  # SUBSCRIBE: granted QoS 0, then the flood
                writer.write(b"\x90" + (b"\x04" + body[:2] + b"\x00\x00" if version5 else b"\x03" + body[:2] + b"\x00"))
                await writer.drain()
                reader_task = asyncio.ensure_future(discard(reader))
                await flood(writer, version5)
                break
            if kind == 3:  # a publisher: everything from now on is discarded unread
                await discard(reader)
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
