package dev.jepd.engine.kv;

/** The block pool cannot hold what was asked for; nothing was allocated. */
public final class KvCacheFullException extends RuntimeException {
    private final int requested;
    private final int free;

    public KvCacheFullException(int requested, int free, int total) {
        super("KV cache full: " + requested + " block(s) requested, " + free + " of " + total + " free");
        this.requested = requested;
        this.free = free;
    }

    public int requested() {
        return requested;
    }

    public int free() {
        return free;
    }
}
