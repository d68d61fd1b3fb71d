"""Makes vllm_nixl12_goldens.json: the bytes of vLLM's newer NixlConnector wire (the vllm/distributed/kv_transfer/
kv_connector/v1/nixl/ package, NIXL_CONNECTOR_VERSION 12), encoded with msgspec as vLLM encodes them. Followed:
  nixl/metadata.py       @ 02cfb534df5674737558730b10f23d1b7aef9b7c  (NixlAgentMetadata, NixlHandshakePayload, hash)
  nixl/base_scheduler.py @ 0050936b22adda2ef0197fa3bb2551fe6c5437dc  (side-channel listener: reply + perf_counter)
  nixl/pull_scheduler.py @ 0050936b22adda2ef0197fa3bb2551fe6c5437dc  (kv_transfer_params of request_finished)
  nixl/base_worker.py    @ 00bd51312724dc9984e7eaa16fa741863db25c97  (get_meta request, "HB:" heartbeat)
The types are restated here with vLLM's field names, order, types and defaults (plain dataclasses, which msgspec
writes as msgpack maps in declaration order, defaults included); nothing else of vLLM is used. Run once in a
throw-away venv with msgspec; the build never runs Python.
"""
import hashlib
import json
from dataclasses import dataclass, field

import msgspec


@dataclass
class NixlAgentMetadata:
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


def compat_hash(factors):
    # vllm.config.utils.hash_factors
    return hashlib.sha256(json.dumps(factors, sort_keys=True).encode()).hexdigest()


# compute_nixl_compatibility_hash at metadata.py 02cfb534 (no speculative decoding, pull mode)
factors = {
    "vllm_version": "0.12.0",
    "nixl_connector_version": 12,
    "model": "Qwen/Qwen2.5-VL-3B-Instruct",
    "dtype": "torch.bfloat16",
    "num_kv_heads": 2,
    "head_size": 128,
    "num_hidden_layers": 36,
    "attn_backend_name": "FLASH_ATTN",
    "cache_dtype": "auto",
    "is_hma_enabled": True,
    "speculative_config": None,
    "transfer_mode": "pull",
}
agent_blob = bytes(i % 256 for i in range(300))
meta = NixlAgentMetadata(
    engine_id="jepd-golden-engine",
    agent_metadata=agent_blob,
    kv_caches_base_addr=[0x7F3A00000000, 0x7F3A00100000, 0x7F3A00200000, 0x7F3A00300000],
    device_id=0,
    num_blocks=64,
    block_lens=[8192, 8192, 8192, 8192],
    block_strides=[8192, 8192, 8192, 8192],
    kv_cache_layout="HND",
    block_size=16,
    ssm_sizes=(0, 0),
    attn_backend_name="FLASH_ATTN",
    physical_blocks_per_logical_kv_block=1,
)
enc = msgspec.msgpack.Encoder()
meta_bytes = enc.encode(meta)
h = compat_hash(factors)
payload = enc.encode(NixlHandshakePayload(compatibility_hash=h, agent_metadata_bytes=meta_bytes))
# The decode worker's request (REQ socket, one frame) and the listener's second reply frame.
get_meta = msgspec.msgpack.encode((b"get_meta_msg", 0, 0))
get_meta_pp1_tp3 = msgspec.msgpack.encode((b"get_meta_msg", 1, 3))
perf = 12345.678901
perf_frame = msgspec.msgpack.encode(perf)
# Round trip through vLLM's typed decoders, as its decode worker does.
back = msgspec.msgpack.Decoder(NixlHandshakePayload).decode(payload)
assert msgspec.msgpack.Decoder(NixlAgentMetadata).decode(back.agent_metadata_bytes) == meta
assert msgspec.msgpack.decode(get_meta) == [b"get_meta_msg", 0, 0]
# A v12 peer that leaves every defaulted field out still decodes (the defaults apply).
short = {k: v for k, v in meta.__dict__.items() if k not in (
    "region_num_blocks", "region_group_ids", "region_names", "region_mem_types", "dcp_size", "pcp_size",
    "region_members")}
short_bytes = msgspec.msgpack.encode(short)
assert msgspec.msgpack.Decoder(NixlAgentMetadata).decode(short_bytes) == meta
# A v12 metadata with the optional region fields set.
full = NixlAgentMetadata(**{**meta.__dict__, "region_num_blocks": [64, 64, 64, 64], "region_group_ids": [0, 0, 0, 0],
                            "region_names": ["k0", "v0", "k1", "v1"], "region_mem_types": ["DRAM"] * 4,
                            "dcp_size": 2, "pcp_size": 1,
                            "region_members": [["layers.0"], ["layers.0"], ["layers.1"], ["layers.1"]]})
full_bytes = enc.encode(full)
# kv_transfer_params of NixlPullConnectorScheduler.request_finished on the prefill node (one KV-cache group), as a
# JSON body carries them: tuple/list both become JSON arrays.
params = dict(
    do_remote_prefill=True,
    do_remote_decode=False,
    remote_block_ids=[[3, 4, 5]],
    remote_engine_id="jepd-golden-engine",
    remote_request_id="cmpl-golden-0",
    remote_host="127.0.0.1",
    remote_port=5600,
    tp_size=1,
    dcp_size=1,
    pp_size=1,
    remote_num_tokens=37,
    remote_blocks_expiry_time=None,
    transfer_mode="pull",
)

out = {
    "msgspec_version": msgspec.__version__,
    "factors": factors,
    "compatibility_hash": h,
    "agent_metadata_hex": agent_blob.hex(),
    "metadata": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in meta.__dict__.items()},
    "metadata_msgpack_hex": meta_bytes.hex(),
    "metadata_defaults_left_out_msgpack_hex": short_bytes.hex(),
    "metadata_full": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in full.__dict__.items()},
    "metadata_full_msgpack_hex": full_bytes.hex(),
    "payload_msgpack_hex": payload.hex(),
    "get_meta_msg_hex": get_meta.hex(),
    "get_meta_msg_pp1_tp3_hex": get_meta_pp1_tp3.hex(),
    "perf_counter": perf,
    "perf_counter_msgpack_hex": perf_frame.hex(),
    "heartbeat_notification": "HB:" + ",".join(["cmpl-golden-0", "cmpl-golden-1"]),
    "release_notification": "cmpl-golden-0:1",
    "kv_transfer_params": params,
}
with open("vllm_nixl12_goldens.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
