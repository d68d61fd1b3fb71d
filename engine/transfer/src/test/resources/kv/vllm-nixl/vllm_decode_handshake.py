"""A vLLM decode worker's side of the NIXL handshake (NixlConnector, NIXL_CONNECTOR_VERSION 2), with pyzmq and
msgspec as vLLM uses them: a REQ socket sends msgspec.msgpack.encode((b"get_meta_msg", rank)), reads one frame
with a 5 s timeout, decodes it with msgspec's typed decoders for vLLM's two dataclasses (restated here with vLLM's
field names and types) and prints what it decoded as JSON. Usage: vllm_decode_handshake.py HOST PORT RANK
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


host, port, rank = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = zmq.Context()
sock = ctx.socket(zmq.REQ)
sock.connect(f"tcp://{host}:{port}")
sock.setsockopt(zmq.RCVTIMEO, 5000)
sock.send(msgspec.msgpack.encode((b"get_meta_msg", rank)))
raw = sock.recv()
ctx.destroy(linger=0)
payload = msgspec.msgpack.Decoder(NixlHandshakePayload).decode(raw)
meta = msgspec.msgpack.Decoder(NixlAgentMetadata).decode(payload.agent_metadata_bytes)
out = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in meta.__dict__.items()}
out["compatibility_hash"] = payload.compatibility_hash
print(json.dumps(out))
