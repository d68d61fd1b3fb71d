package dev.jepd.transfer.ec;

import dev.jepd.engine.connector.EcEntry;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The items a PD node has read from encoders point to point (NIXL), kept so that a repeat of an image is a hit
 * without asking again: least recently used first out once their f32 rows pass {@code capacityBytes}; the item just
 * kept is never the one evicted. Thread-safe.
 */
public final class PulledEntries {
    private final long capacityBytes;
    private final Runnable onEvict;
    // Access-ordered: iteration starts at the least recently used item. Guarded by itself.
    private final LinkedHashMap<String, EcEntry> entries = new LinkedHashMap<>(64, 0.75f, true);
    private long bytes; // guarded by entries

    /** @param onEvict told once per evicted item (the connector's eviction counter) */
    public PulledEntries(long capacityBytes, Runnable onEvict) {
        this.capacityBytes = capacityBytes;
        this.onEvict = onEvict;
    }

    /** The item of {@code key}, or null; counts as a use. */
    public EcEntry get(String key) {
        synchronized (entries) {
            return entries.get(key);
        }
    }

    public void put(EcEntry e) {
        synchronized (entries) {
            EcEntry old = entries.put(e.key(), e);
            bytes += size(e) - (old == null ? 0 : size(old));
            Iterator<Map.Entry<String, EcEntry>> it = entries.entrySet().iterator();
            while (bytes > capacityBytes && it.hasNext()) {
                Map.Entry<String, EcEntry> eldest = it.next();
                if (eldest.getKey().equals(e.key())) {
                    continue;
                }
                bytes -= size(eldest.getValue());
                it.remove();
                onEvict.run();
            }
        }
    }

    /** The f32 bytes held. */
    public long bytes() {
        synchronized (entries) {
            return bytes;
        }
    }

    private static long size(EcEntry e) {
        return 4L * e.rows().length;
    }
}
