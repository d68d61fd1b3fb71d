"""Goldens for vLLM's ECCPUConnector P2P NIXL wire (ec_enable_nixl), made with msgspec itself.

The structs (vllm_ec_cpu_protocol.py) are vLLM's, as declared in vllm/distributed/ec_transfer/ec_connector/cpu/protocol.py
(EC_CONNECTOR_VERSION 2, vllm-project/vllm@9389fad1); the compatibility hash is its
compute_ec_compatibility_hash. Run in a throw-away venv with msgspec (0.22 made the committed file):

    python make_vllm_ec_cpu_goldens.py > vllm_ec_cpu_goldens.json
"""
import json

import msgspec
from vllm_ec_cpu_protocol import XferAck, XferReq, XferStatus, compatibility_hash


H = "c529b101a6de949a1c6803c46993b1802943081f28cbb89e2750aa5192444e36"
SID = "3f2b8c1e-9a4d-4e57-b0c2-7d1e5f6a8b90"
BASE, BS = 0x7F0000000000, 7168
enc = msgspec.msgpack.encode
mem = enc([(BASE + i * BS, BS, 0) for i in range(3)])
out = {
    "msgspec": msgspec.__version__,
    "mm_hash": H,
    "session_id": SID,
    "mem_base": BASE,
    "block_bytes": BS,
    "mem_descriptor_3": mem.hex(),
    "req": enc(XferReq(H, "c1", SID)).hex(),
    "req_no_session": enc(XferReq(H, "c1")).hex(),
    "req_version_1": enc(XferReq(H, "c1", SID, connector_version=1)).hex(),
    "ack_ok": enc(XferAck(H, XferStatus.OK, SID, [7, 8, 9, 3], b"\x00\x01NIXLMD", mem)).hex(),
    "ack_not_ready": enc(XferAck(H, XferStatus.NACK_NOT_READY)).hex(),
    "ack_missing": enc(XferAck(H, XferStatus.NACK_MISSING)).hex(),
    "hash_examples": [
        {"factors": ["0.30.0", "Qwen/Qwen2.5-VL-7B-Instruct", "torch.bfloat16", 7168],
         "hash": compatibility_hash("0.30.0", "Qwen/Qwen2.5-VL-7B-Instruct", "torch.bfloat16", 7168)},
        {"factors": ["0.29.1rc1.dev412+ga7fda4c88", "/models/Qwen2.5-VL-3B \u00e9\"x", "torch.bfloat16", 4096],
         "hash": compatibility_hash("0.29.1rc1.dev412+ga7fda4c88", "/models/Qwen2.5-VL-3B \u00e9\"x",
                                    "torch.bfloat16", 4096)},
    ],
}
print(json.dumps(out, indent=1))
