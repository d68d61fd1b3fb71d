"""A stand-in for vLLM's ECCPUConnector side channel (P2P NIXL mode), written from vLLM's code, for JEPD's tests.

The structs are vLLM's (vllm/distributed/ec_transfer/ec_connector/cpu/protocol.py, EC_CONNECTOR_VERSION 2); the
sockets and options are those of its cpu/control/zmq.py. No NIXL here: the READ is tested in Java.

  consumer HOST PORT MM_HASH HASH   vLLM's consumer against a JEPD producer: a DEALER with vLLM's heartbeats asks
                                    for MM_HASH with HASH, then (after idling past the heartbeat timeout) with a
                                    wrong hash and for a missing item; prints one JSON line of what came back.
  producer HASH                     vLLM's producer for a JEPD consumer: a ROUTER that prints its port, answers the
                                    first XferReq NACK_NOT_READY and the second NACK_MISSING; prints the requests.
"""
import json
import sys
import time

import msgspec
import zmq
from zmq.utils.monitor import recv_monitor_message

from vllm_ec_cpu_protocol import XferAck, XferReq, XferStatus


def consumer(host, port, mm_hash, good_hash):
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.HEARTBEAT_IVL, 2000)
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 4000)
    s.setsockopt(zmq.HEARTBEAT_TTL, 8000)
    mon = s.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
    s.connect(f"tcp://{host}:{port}")
    dec = msgspec.msgpack.Decoder(XferAck)
    enc = msgspec.msgpack.Encoder()
    session = "3f2b8c1e-9a4d-4e57-b0c2-7d1e5f6a8b90"

    def ask(h, compat):
        s.send_multipart([b"", enc.encode(XferReq(h, compat, session))])
        if not s.poll(10000):
            raise SystemExit("no answer within 10 s")
        frames = s.recv_multipart()
        assert len(frames) == 2 and frames[0] == b"", frames
        return dec.decode(frames[1])

    ok = ask(mm_hash, good_hash)
    blocks = msgspec.msgpack.Decoder(list[tuple[int, int, int]]).decode(ok.mem_descriptor)
    time.sleep(6)  # idle past HEARTBEAT_TIMEOUT: the connection lives only if the ROUTER answers PINGs
    incompat = ask(mm_hash, "0" * 64)
    missing = ask("no-such-item", good_hash)
    events = []
    while mon.poll(0):
        events.append(recv_monitor_message(mon)["event"])
    print(json.dumps({
        "status": int(ok.status),
        "session_id": ok.session_id,
        "src_block_indices": ok.src_block_indices,
        "agent_metadata_bytes": len(ok.agent_metadata),
        "region_blocks": len(blocks),
        "block_len": blocks[0][1],
        "block_dev": blocks[0][2],
        "address_of_first_granted": blocks[ok.src_block_indices[0]][0],
        "incompat": int(incompat.status),
        "incompat_keys": sorted(msgspec.msgpack.decode(enc.encode(incompat)).keys()),
        "missing": int(missing.status),
        "disconnects": sum(1 for e in events if e == zmq.EVENT_DISCONNECTED),
    }))


def producer(expected_hash):
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    s.setsockopt(zmq.LINGER, 0)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    print(port, flush=True)
    dec = msgspec.msgpack.Decoder(XferReq)
    enc = msgspec.msgpack.Encoder()
    seen = []
    for answer in (XferStatus.NACK_NOT_READY, XferStatus.NACK_MISSING):
        if not s.poll(20000):
            break
        identity, empty, payload = s.recv_multipart()
        req = dec.decode(payload)
        seen.append({"empty_delimiter": empty == b"", "mm_hash": req.mm_hash,
                     "hash_ok": req.compatibility_hash == expected_hash, "session_id": req.session_id,
                     "connector_version": req.connector_version})
        s.send_multipart([identity, b"", enc.encode(XferAck(req.mm_hash, answer))])
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "consumer":
        consumer(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        producer(sys.argv[2])
