package dev.jepd.transfer.nixl;

import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * First-fit allocation of byte ranges in one fixed buffer: the staging buffer a prefill node registers with NIXL
 * once, at start, so its metadata never changes and a decode node loads it once. Freed ranges merge with their
 * free neighbours. Thread-safe.
 */
public final class StagingArea {
    /** Every range starts on this boundary (a cache line, and the widest SIMD load). */
    static final long ALIGN = 64;

    private final long capacity;
    private final TreeMap<Long, Long> free = new TreeMap<>(); // offset -> length
    private final Map<Long, Long> used = new HashMap<>(); // offset -> length
    private long usedBytes;

    public StagingArea(long capacity) {
        if (capacity < ALIGN) {
            throw new IllegalArgumentException("staging area of " + capacity + " bytes");
        }
        this.capacity = capacity - capacity % ALIGN;
        free.put(0L, this.capacity);
    }

    /** The offset of a fresh range of at least {@code bytes}, or empty when no free range is that large. */
    public synchronized OptionalLong allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("allocation of " + bytes + " bytes");
        }
        long size = (bytes + ALIGN - 1) / ALIGN * ALIGN;
        for (Map.Entry<Long, Long> e : free.entrySet()) {
            long offset = e.getKey();
            long length = e.getValue();
            if (length >= size) {
                // Read before the removal: TreeMap may reuse the entry object for another key.
                free.remove(offset);
                if (length > size) {
                    free.put(offset + size, length - size);
                }
                used.put(offset, size);
                usedBytes += size;
                return OptionalLong.of(offset);
            }
        }
        return OptionalLong.empty();
    }

    /** Returns a range from {@link #allocate}. */
    public synchronized void free(long offset) {
        Long size = used.remove(offset);
        if (size == null) {
            throw new IllegalArgumentException("no staging range at offset " + offset);
        }
        usedBytes -= size;
        long start = offset;
        long length = size;
        Map.Entry<Long, Long> before = free.floorEntry(offset); // an immutable snapshot entry
        if (before != null && before.getKey() + before.getValue() == offset) {
            start = before.getKey();
            length += before.getValue();
            free.remove(start);
        }
        Long afterLength = free.remove(offset + size);
        if (afterLength != null) {
            length += afterLength;
        }
        free.put(start, length);
    }

    public long capacity() {
        return capacity;
    }

    public synchronized long usedBytes() {
        return usedBytes;
    }

    /** The largest range {@link #allocate} could return now. */
    public synchronized long largestFree() {
        return free.values().stream().mapToLong(Long::longValue).max().orElse(0);
    }
}
