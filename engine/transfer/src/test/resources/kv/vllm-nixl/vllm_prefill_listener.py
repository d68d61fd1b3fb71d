"""A vLLM prefill node's NIXL handshake listener (NixlConnector, NIXL_CONNECTOR_VERSION 2), with pyzmq and msgspec
as vLLM uses them: a ROUTER bound on 127.0.0.1 (a free port, printed first), one request read as
(identity, b"", msgspec.msgpack.encode((b"get_meta_msg", tp_rank))), answered with the msgspec encoding of vLLM's
NixlHandshakePayload around the golden NixlAgentMetadata (restated with vLLM's field names and types). Exits 0 once
it has answered a well-formed request for rank 0. Usage: vllm_prefill_listener.py GOLDENS.json
With the version 12 goldens (vllm_nixl12_goldens.json), as vLLM's NIXL_CONNECTOR_VERSION 12 listener
(nixl/base_scheduler.py at 0050936b): the request is (b"get_meta_msg", pp_rank, tp_rank) and the answer
(identity, b"", payload, msgspec.msgpack.encode(time.perf_counter())) around version 12's NixlAgentMetadata.
"""
import json
import sys
import time
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


golden = json.load(open(sys.argv[1]))
m = dict(golden["metadata"])
m["agent_metadata"] = bytes.fromhex(m["agent_metadata"])
v12 = golden["factors"]["nixl_connector_version"] == 12
if v12:
    m["ssm_sizes"] = tuple(m["ssm_sizes"])
encoder = msgspec.msgpack.Encoder()
payload = encoder.encode(
    NixlHandshakePayload(
        compatibility_hash=golden["compatibility_hash"],
        agent_metadata_bytes=encoder.encode((NixlAgentMetadataV12 if v12 else NixlAgentMetadata)(**m)),
    )
)
ctx = zmq.Context()
sock = ctx.socket(zmq.ROUTER)
port = sock.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
sock.setsockopt(zmq.RCVTIMEO, 20000)
identity, _, msg = sock.recv_multipart()
if v12:
    tag, pp_rank, rank = msgspec.msgpack.decode(msg)
    sock.send_multipart((identity, b"", payload, msgspec.msgpack.encode(time.perf_counter())))
    ok = (tag, pp_rank, rank) == (b"get_meta_msg", 0, 0)
else:
    tag, rank = msgspec.msgpack.decode(msg)
    sock.send_multipart((identity, b"", payload))
    ok = (tag, rank) == (b"get_meta_msg", 0)
ctx.destroy(linger=1000)
sys.exit(0 if ok else 1)
