"""Makes vllm_nixl_goldens.json: the bytes vLLM's NixlConnector (NIXL_CONNECTOR_VERSION 2, the single-file
vllm/distributed/kv_transfer/kv_connector/v1/nixl_connector.py) puts on its ZMQ side channel, encoded with msgspec as
vLLM encodes them. The two handshake types are restated here with vLLM's field names, order and types (plain
dataclasses, which msgspec writes as msgpack maps in declaration order); nothing else of vLLM is used.
Run once in a throw-away venv with msgspec (pip reads the local wheel index); the build never runs Python.
"""
import hashlib
import json
from dataclasses import dataclass

import msgspec


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


def compat_hash(factors):
    # vllm.config.utils.hash_factors
    return hashlib.sha256(json.dumps(factors, sort_keys=True).encode()).hexdigest()


factors = {
    "vllm_version": "0.11.1",
    "nixl_connector_version": 2,
    "model": "Qwen/Qwen2.5-VL-3B-Instruct",
    "dtype": "torch.bfloat16",
    "num_kv_heads": 2,
    "head_size": 128,
    "num_hidden_layers": 36,
    "attn_backend_name": "FLASH_ATTN",
    "cache_dtype": "auto",
}
agent_blob = bytes(i % 256 for i in range(300))
meta = NixlAgentMetadata(
    engine_id="jepd-golden-engine",
    agent_metadata=agent_blob,
    kv_caches_base_addr=[0x7F3A00000000, 0x7F3A00100000, 0x7F3A00200000, 0x7F3A00300000],
    device_id=0,
    num_blocks=64,
    block_lens=[8192, 8192, 8192, 8192],
    kv_cache_layout="HND",
    block_size=16,
)
enc = msgspec.msgpack.Encoder()
meta_bytes = enc.encode(meta)
h = compat_hash(factors)
payload = enc.encode(NixlHandshakePayload(compatibility_hash=h, agent_metadata_bytes=meta_bytes))
# What vLLM's decode worker sends (REQ socket, one frame) and how its prefill listener reads it.
get_meta = msgspec.msgpack.encode((b"get_meta_msg", 0))
# Round trip through vLLM's typed decoders, as its decode worker does.
back = msgspec.msgpack.Decoder(NixlHandshakePayload).decode(payload)
assert msgspec.msgpack.Decoder(NixlAgentMetadata).decode(back.agent_metadata_bytes) == meta

out = {
    "msgspec_version": msgspec.__version__,
    "factors": factors,
    "compatibility_hash": h,
    "agent_metadata_hex": agent_blob.hex(),
    "metadata": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in meta.__dict__.items()},
    "metadata_msgpack_hex": meta_bytes.hex(),
    "payload_msgpack_hex": payload.hex(),
    "get_meta_msg_hex": get_meta.hex(),
    "release_notification": "cmpl-golden-0:1",
}
with open("vllm_nixl_goldens.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
