package dev.jepd.engine.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class KvCacheSpecTest {
    @Test
    void bytesOfQwen25Vl3B() {
        // 36 layers, 2 KV heads of 128, bf16, block 16: 2*36*2*128*16*2 = 589,824 bytes per block.
        KvCacheSpec spec = new KvCacheSpec(36, 2, 128, 16, 1000, 2);
        assertEquals(589_824L, spec.bytesPerBlock());
        assertEquals(36_864L, spec.bytesPerToken());
        assertEquals(589_824_000L, spec.bytes());
        assertEquals(16_000L, spec.tokenCapacity());
    }

    @Test
    void blocksFromBudget() {
        KvCacheSpec spec = KvCacheSpec.forBudget(36, 2, 128, 16, 2, 1L << 30);
        assertEquals((1L << 30) / 589_824L, spec.numBlocks());
        assertTrue(spec.bytes() <= 1L << 30);
        assertTrue(spec.bytes() + spec.bytesPerBlock() > 1L << 30);
        assertEquals(spec.numBlocks(), spec.newPool().numFreeBlocks());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> KvCacheSpec.forBudget(36, 2, 128, 16, 2, 1000));
        assertTrue(e.getMessage().contains("smaller than one block"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new KvCacheSpec(0, 2, 128, 16, 10, 2));
    }
}
