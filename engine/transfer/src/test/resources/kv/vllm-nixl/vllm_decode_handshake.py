"""A vLLM decode worker's side of the NIXL handshake (NixlConnector, NIXL_CONNECTOR_VERSION 2), with pyzmq and
msgspec as vLLM uses them: a REQ socket sends msgspec.msgpack.encode((b"get_meta_msg", rank)), reads one frame
with a 5 s timeout, decodes it with msgspec's typed decoders for vLLM's two dataclasses (restated here with vLLM's
field names and types) and prints what it decoded as JSON. Usage: vllm_decode_handshake.py HOST PORT RANK [12]
With 12, as vLLM's NIXL_CONNECTOR_VERSION 12 worker (nixl/base_worker.py at 00bd5131): it sends
(b"get_meta_msg", 0, RANK), asserts a two-frame answer, decodes the second frame as the prefill clock and the
metadata as version 12's NixlAgentMetadata (nixl/metadata.py at 02cfb534).
"""
import json
import sys
from dataclasses import dataclass, field

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
class NixlAgentMetadataV12:
    engine_id: str
    agent_metadata: bytes
    kv_caches_base_addr: list[int]
    device_id: int
    num_blocks: int
    block_lens: list[int]
    block_strides: list[int]
    kv_cache_layout: str
    block_size: int
    ssm_sizes: tuple[int, int]
    attn_backend_name: str
    physical_blocks_per_logical_kv_block: int
    region_num_blocks: list[int] | None = None
    region_group_ids: list[int] | None = None
    region_names: list[str] | None = None
    region_mem_types: list[str] | None = None
    dcp_size: int = 1
    pcp_size: int = 1
    region_members: list[list[str]] = field(default_factory=list)


@dataclass
class NixlHandshakePayload:
    compatibility_hash: str
    agent_metadata_bytes: bytes


host, port, rank = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = zmq.Context()
sock = ctx.socket(zmq.REQ)
sock.connect(f"tcp://{host}:{port}")
sock.setsockopt(zmq.RCVTIMEO, 5000)
v12 = len(sys.argv) > 4 and sys.argv[4] == "12"
clock = None
if v12:
    sock.send(msgspec.msgpack.encode((b"get_meta_msg", 0, rank)))
    parts = sock.recv_multipart()
    assert len(parts) == 2
    raw = parts[0]
    clock = msgspec.msgpack.decode(parts[1])
else:
    sock.send(msgspec.msgpack.encode((b"get_meta_msg", rank)))
    raw = sock.recv()
ctx.destroy(linger=0)
payload = msgspec.msgpack.Decoder(NixlHandshakePayload).decode(raw)
meta = msgspec.msgpack.Decoder(NixlAgentMetadataV12 if v12 else NixlAgentMetadata).decode(payload.agent_metadata_bytes)
out = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in meta.__dict__.items()}
out["compatibility_hash"] = payload.compatibility_hash
if v12:
    out["clock_is_float"] = isinstance(clock, float)
print(json.dumps(out))
