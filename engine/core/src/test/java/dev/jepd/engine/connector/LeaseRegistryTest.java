package dev.jepd.engine.connector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The generic lease registry over a plain payload (a string): release, double release, expiry by deadline. */
class LeaseRegistryTest {
    @Test
    void releaseHandsBackTheValueOnceAndASecondReleaseFreesNothing() {
        LeaseRegistry<String> leases = new LeaseRegistry<>();
        leases.hold("a", "payload-a", 100);
        leases.hold("b", "payload-b", 100);
        assertEquals("payload-a", leases.get("a").value());
        assertEquals(100, leases.get("a").deadline());

        assertEquals("payload-a", leases.release("a"));
        assertNull(leases.release("a"), "a double release must not free the value twice");
        assertNull(leases.get("a"));
        assertNull(leases.release("never-held"));
        assertEquals(1, leases.size());
        assertEquals(1, leases.releasedTotal());
        assertEquals(0, leases.expiredTotal());
    }

    @Test
    void holdingTwiceUnderOneIdIsRefusedAndKeepsTheFirst() {
        LeaseRegistry<Integer> leases = new LeaseRegistry<>();
        leases.hold("x", 1, 100);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> leases.hold("x", 2, 200));
        assertEquals("a lease is already held under x", e.getMessage());
        assertEquals(1, leases.get("x").value());
    }

    @Test
    void expiryEndsExactlyTheLeasesDueAndTheyCannotBeReleasedAfterwards() {
        LeaseRegistry<String> leases = new LeaseRegistry<>();
        leases.hold("early", "e", 100);
        leases.hold("late", "l", 200);
        leases.hold("edge", "g", 150);

        assertEquals(List.of(), leases.expire(99));
        assertEquals(List.of("e", "g"), leases.expire(150), "deadline at or before now, in holding order");
        assertNull(leases.release("early"), "an expired lease is gone");
        assertEquals(2, leases.expiredTotal());
        assertEquals(0, leases.releasedTotal());
        assertEquals("l", leases.get("late").value());
        assertEquals(List.of(), leases.expire(150), "expiring again frees nothing twice");
    }

    @Test
    void deadlinesCompareAcrossNanoTimeOverflow() {
        LeaseRegistry<String> leases = new LeaseRegistry<>();
        long deadline = Long.MAX_VALUE - 5 + 10; // wrapped past Long.MAX_VALUE
        leases.hold("w", "v", deadline);
        assertEquals(List.of(), leases.expire(Long.MAX_VALUE - 5));
        assertEquals(List.of("v"), leases.expire(deadline));
    }
}
