package dev.jepd.transfer.vllm;

import org.slf4j.Logger;
import org.zeromq.ZFrame;
import org.zeromq.ZMQ;
import org.zeromq.ZMsg;

/**
 * One request as a ZMQ ROUTER receives it on vLLM's side channels (the NixlConnector handshake, the ECCPUConnector
 * transfer requests): the peer's identity, the empty delimiter its REQ or DEALER socket sends, then one payload.
 * Answers go back with the same identity and delimiter before their frames.
 */
record RouterEnvelope(ZFrame identity, byte[] payload) {
    /** The request in {@code msg}, or null (logged on {@code log} as {@code channel}) for any other shape. */
    static RouterEnvelope of(ZMsg msg, Logger log, String channel) {
        if (msg.size() != 3) {
            log.warn("{}: a message of {} frames, not identity + delimiter + request", channel, msg.size());
            return null;
        }
        ZFrame identity = msg.pop();
        ZFrame delimiter = msg.pop();
        byte[] payload = msg.pop().getData();
        if (delimiter.size() != 0) {
            log.warn("{}: a request without the empty delimiter frame (not a REQ or DEALER peer?)", channel);
            return null;
        }
        return new RouterEnvelope(identity, payload);
    }

    /** Sends {@code frames} back to this request's peer. */
    void answer(ZMQ.Socket router, byte[]... frames) {
        ZMsg reply = new ZMsg();
        reply.add(identity);
        reply.add(new byte[0]);
        for (byte[] f : frames) {
            reply.add(f);
        }
        reply.send(router);
    }
}
