"""A vLLM prefill node's NIXL handshake listener (NixlConnector, NIXL_CONNECTOR_VERSION 2), with pyzmq and msgspec
as vLLM uses them: a ROUTER bound on 127.0.0.1 (a free port, printed first), one request read as
(identity, b"", msgspec.msgpack.encode((b"get_meta_msg", tp_rank))), answered with the msgspec encoding of vLLM's
NixlHandshakePayload around the golden NixlAgentMetadata (restated with vLLM's field names and types). Exits 0 once
it has answered a well-formed request for rank 0. Usage: vllm_prefill_listener.py GOLDENS.json
"""
import json
import sys
from dataclasses import dataclass

import msgspec
import zmq


@dataclass
class NixlAgentMetadata:
    engine_id: str
    agent_metadata: bytes
    kv_caches_base_addr: list[int]
    device_id: int
    num_blocks: int
    block_lens: list[int]
    kv_cache_layout: str
    block_size: int


@dataclass
class NixlHandshakePayload:
    compatibility_hash: str
    agent_metadata_bytes: bytes


golden = json.load(open(sys.argv[1]))
m = dict(golden["metadata"])
m["agent_metadata"] = bytes.fromhex(m["agent_metadata"])
encoder = msgspec.msgpack.Encoder()
payload = encoder.encode(
    NixlHandshakePayload(
        compatibility_hash=golden["compatibility_hash"],
        agent_metadata_bytes=encoder.encode(NixlAgentMetadata(**m)),
    )
)
ctx = zmq.Context()
sock = ctx.socket(zmq.ROUTER)
port = sock.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
sock.setsockopt(zmq.RCVTIMEO, 20000)
identity, _, msg = sock.recv_multipart()
tag, rank = msgspec.msgpack.decode(msg)
sock.send_multipart((identity, b"", payload))
ctx.destroy(linger=1000)
sys.exit(0 if (tag, rank) == (b"get_meta_msg", 0) else 1)
