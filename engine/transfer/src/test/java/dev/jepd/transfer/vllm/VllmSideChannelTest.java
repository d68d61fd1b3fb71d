package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.zeromq.ZContext;

/**
 * vLLM's handshake side channel under many asks: every ask of 400, each on a fresh REQ socket as vLLM's decode
 * worker makes them, gets its answer (the payload for rank 0, an empty answer for a rank this node lacks). Without
 * {@link VllmSideChannel#ask}'s retry, JeroMQ's REQ lost 1 to 7 asks of 400 here, each a 5 s time-out (a fresh
 * clone's suite failed on one); pyzmq's REQ lost none against the same ROUTER.
 */
class VllmSideChannelTest {
    @Test
    void fourHundredAsksOnFreshSocketsAreAllAnswered() {
        byte[] payload = {1, 2, 3};
        try (var side = new VllmSideChannel("127.0.0.1", 0, rank -> rank == 0 ? payload : null);
                ZContext zmq = new ZContext()) {
            int unanswered = 0;
            for (int i = 0; i < 400; i++) {
                int rank = i % 3 == 2 ? 1 : 0;
                byte[] answer = VllmSideChannel.ask(zmq, "127.0.0.1", side.port(), rank, 5000);
                if (answer == null) {
                    unanswered++;
                } else {
                    assertArrayEquals(rank == 0 ? payload : new byte[0], answer, "ask " + i + ", rank " + rank);
                }
            }
            assertEquals(0, unanswered, "asks left without an answer within 5 s");
        }
    }
}
