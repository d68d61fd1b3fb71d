package dev.jepd.pd;

import dev.jepd.engine.generate.TokenSink;
import dev.jepd.engine.text.FinishReason;
import dev.jepd.engine.text.StopReason;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A request's output as a queue of events: the engine thread offers, the HTTP worker takes. */
final class RequestEvents implements TokenSink {
    sealed interface Event permits Token, Finish, Failure {}

    record Token(int id, String delta, long nanos) implements Event {}

    /** The end of the request, with its last token's text (empty when it ended without a token). */
    record Finish(
            String lastDelta, boolean hasToken, long nanos, FinishReason reason, StopReason stopReason, Usage usage)
            implements Event {}

    record Failure(RuntimeException error) implements Event {}

    private final LinkedBlockingQueue<Event> queue = new LinkedBlockingQueue<>();

    @Override
    public void onToken(int tokenId, String delta) {
        queue.add(new Token(tokenId, delta, System.nanoTime()));
    }

    @Override
    public void onLastToken(int tokenId, String delta, FinishReason reason, StopReason stopReason, Usage usage) {
        queue.add(new Finish(delta, true, System.nanoTime(), reason, stopReason, usage));
    }

    @Override
    public void onFinish(FinishReason reason, StopReason stopReason, Usage usage) {
        queue.add(new Finish("", false, System.nanoTime(), reason, stopReason, usage));
    }

    @Override
    public void onError(RuntimeException error) {
        queue.add(new Failure(error));
    }

    Event take(long timeoutMillis) throws InterruptedException {
        return queue.poll(timeoutMillis, TimeUnit.MILLISECONDS);
    }
}
