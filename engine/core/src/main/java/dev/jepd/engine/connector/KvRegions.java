package dev.jepd.engine.connector;

import dev.jepd.tensor.DType;
import java.lang.foreign.MemorySegment;

/**
 * The paged KV cache's own memory, as a transport may register it and read or write blocks in place: per layer
 * one K and one V region of {@code numBlocks} blocks, block {@code b} at {@code b × blockBytes}, each block
 * {@code [blockSize, kvHeads, headDim]} row-major little-endian in {@code dtype}. Only the backend knows whether
 * its tensors have such memory; the transport sees plain segments.
 *
 * @param dtype the element type of every region
 * @param blockBytes bytes of one block in one region
 * @param keys per layer the K region
 * @param values per layer the V region
 */
public record KvRegions(DType dtype, long blockBytes, MemorySegment[] keys, MemorySegment[] values) {
    public KvRegions {
        if (keys.length != values.length || keys.length == 0) {
            throw new IllegalArgumentException("KV regions for " + keys.length + " K and " + values.length + " V");
        }
        if (blockBytes <= 0) {
            throw new IllegalArgumentException("block of " + blockBytes + " bytes");
        }
        for (int l = 0; l < keys.length; l++) {
            if (keys[l].byteSize() != keys[0].byteSize() || values[l].byteSize() != keys[0].byteSize()) {
                throw new IllegalArgumentException("KV regions of layer " + l + " differ in size from layer 0's");
            }
        }
        if (keys[0].byteSize() % blockBytes != 0) {
            throw new IllegalArgumentException(
                    "a region of " + keys[0].byteSize() + " bytes is not whole blocks of " + blockBytes);
        }
    }

    /** The regions of {@code layout}'s cache in {@code dtype}: the block size that layout and dtype give. */
    public static long blockBytes(KvLayout layout, DType dtype) {
        return (long) layout.blockSize() * layout.rowFloats() * dtype.byteSize();
    }

    public int layers() {
        return keys.length;
    }

    /** Blocks in each region. */
    public long numBlocks() {
        return keys[0].byteSize() / blockBytes;
    }

    /** Every region in order: per layer K then V ({@code 2 × layers} of them). */
    public MemorySegment[] all() {
        MemorySegment[] all = new MemorySegment[2 * keys.length];
        for (int l = 0; l < keys.length; l++) {
            all[2 * l] = keys[l];
            all[2 * l + 1] = values[l];
        }
        return all;
    }

    /** The address of block {@code block} of region {@code region} (an index into {@link #all()}). */
    public long blockAddress(int region, int block) {
        if (block < 0 || block >= numBlocks()) {
            throw new IndexOutOfBoundsException("block " + block + " of " + numBlocks());
        }
        MemorySegment r = region % 2 == 0 ? keys[region / 2] : values[region / 2];
        return r.address() + block * blockBytes;
    }
}
