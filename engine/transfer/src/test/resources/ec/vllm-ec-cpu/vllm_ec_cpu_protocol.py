"""vLLM's ECCPUConnector side-channel structs, as declared in vllm/distributed/ec_transfer/ec_connector/cpu/protocol.py
(EC_CONNECTOR_VERSION 2, vllm-project/vllm@9389fad1), and its compute_ec_compatibility_hash; shared by the goldens
script and the test peer."""
import enum
import hashlib
import json

import msgspec


class XferStatus(enum.IntEnum):
    OK = 0
    NACK_MISSING = 1
    NACK_INCOMPAT = 2
    NACK_VERSION = 3
    NACK_INTERNAL = 4
    NACK_NOT_READY = 5


class XferReq(msgspec.Struct, tag="req", omit_defaults=True):
    mm_hash: str
    compatibility_hash: str
    session_id: str = ""
    connector_version: int = 2


class XferAck(msgspec.Struct, tag="ack", omit_defaults=True):
    mm_hash: str
    status: XferStatus
    session_id: str = ""
    src_block_indices: list[int] = []
    agent_metadata: bytes = b""
    mem_descriptor: bytes = b""


def compatibility_hash(vllm_version, model, dtype, block_size_bytes):
    factors = json.dumps([vllm_version, model, dtype, block_size_bytes], separators=(",", ":"))
    return hashlib.sha256(factors.encode("utf-8")).hexdigest()
