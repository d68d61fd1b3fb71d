package dev.jepd.transfer.kv;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.transfer.channel.ChannelStatus;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The frames of JEPD's KV side channel; every integer and float is little-endian.
 *
 * <pre>
 * request  = magic:u32 op:u8 engine_id:str request_id:str
 *            [READ, STAGE, STAGE_DIRECT: prompt_tokens:u32 n:u32 block_id:u32 × n]
 * reply    = magic:u32 status:u8 (status ≠ OK: message:str)
 *            [READ, OK: layout then per layer: K f32 × (n·block_size·kv_heads·head_dim), V the same]
 *            [STAGE, OK: layout agent:str metadata_length:u32 metadata address:u64 bytes:u64]
 *            [STAGE_DIRECT, OK: layout dtype:str block_bytes:u64 agent:str metadata_length:u32 metadata
 *                               regions:u32 (base:u64 region_bytes:u64) × regions]
 * layout   = layers:u32 kv_heads:u32 head_dim:u32 block_size:u32 n:u32
 * str      = length:u16 utf-8 bytes
 * </pre>
 *
 * K and V rows are those of the requested blocks' slots in request order, each row {@code [kv_heads, head_dim]}.
 * One request per connection. Sizes are checked before anything is allocated, so a corrupt or hostile frame is
 * an exception, never a huge allocation.
 *
 * <p>STAGE is the handshake of the NIXL path: the prefill node copies the blocks into its NIXL-registered staging
 * buffer, in the READ body's order and encoding, and answers where they are ({@code address}, {@code bytes}) and
 * its agent's metadata; the decode node then reads them with NIXL and tells the prefill node, by a NIXL
 * notification, when it may free them. A prefill node without NIXL answers {@link ChannelStatus#NOT_SUPPORTED}.
 *
 * <p>STAGE_DIRECT (op 4, added after STAGE; the frames of ops 1-3 are unchanged) is the handshake of the direct
 * NIXL path: the prefill node checks that the blocks are held and answers where its KV cache itself is registered
 * ({@code regions}: per layer K then V, block {@code b} at {@code base + b × block_bytes}, elements of
 * {@code dtype}, a {@code DType} name such as {@code F32} or {@code BF16}) without copying anything; the decode
 * node reads every block straight into its own cache and releases by notification as after STAGE. A prefill node
 * whose cache is not registered answers {@link ChannelStatus#NOT_SUPPORTED}; one older than the op answers
 * {@link ChannelStatus#REJECTED} "unknown side-channel op 4"; in both cases, and when the dtypes differ, the decode
 * node falls back to STAGE.
 *
 * <p>The envelope ({@code magic op} and {@code magic status}, the error message) is that of the generic side
 * channel ({@code dev.jepd.transfer.channel.Frames}), and the status codes are its {@code ChannelStatus} codes:
 * {@link JepdKvServer} is a {@code SideChannelServer} with one handler per op and {@link JepdKvClient} a
 * {@code SideChannelClient}, which is why this class also offers each frame's body alone.
 */
public final class KvWire {
    /** "JKV1". */
    public static final int MAGIC = 0x314B564A;

    static final int MAX_STRING_BYTES = 4096;
    static final int MAX_BLOCKS = 1 << 20;
    static final int MAX_METADATA_BYTES = 64 << 20;
    private static final int CHUNK_FLOATS = 1 << 16;

    private KvWire() {}

    public enum Op {
        READ(1),
        RELEASE(2),
        STAGE(3),
        STAGE_DIRECT(4);

        final int code;

        Op(int code) {
            this.code = code;
        }

        static Op of(int code) {
            return switch (code) {
                case 1 -> READ;
                case 2 -> RELEASE;
                case 3 -> STAGE;
                case 4 -> STAGE_DIRECT;
                default -> throw new KvTransferException("unknown KV side-channel op " + code);
            };
        }
    }

    /** One request; {@code promptTokens} and {@code blockIds} only matter for {@link Op#READ}. */
    public record Request(Op op, String engineId, String requestId, int promptTokens, int[] blockIds) {
        public static Request read(String engineId, String requestId, int promptTokens, int[] blockIds) {
            return new Request(Op.READ, engineId, requestId, promptTokens, blockIds);
        }

        public static Request release(String engineId, String requestId) {
            return new Request(Op.RELEASE, engineId, requestId, 0, new int[0]);
        }

        public static Request stage(String engineId, String requestId, int promptTokens, int[] blockIds) {
            return new Request(Op.STAGE, engineId, requestId, promptTokens, blockIds);
        }

        public static Request stageDirect(String engineId, String requestId, int promptTokens, int[] blockIds) {
            return new Request(Op.STAGE_DIRECT, engineId, requestId, promptTokens, blockIds);
        }
    }

    /**
     * Where a prefill node staged a request's blocks for a NIXL read: {@code bytes} bytes at {@code address} in
     * memory registered with agent {@code agent}, whose metadata is {@code metadata}.
     */
    public record Staged(KvLayout layout, int numBlocks, String agent, byte[] metadata, long address, long bytes) {
        /** The staged size that {@code numBlocks} blocks of {@code layout} take. */
        public static long bytesFor(KvLayout layout, int numBlocks) {
            return 2L * layout.layers() * layout.blockFloats(numBlocks) * Float.BYTES;
        }
    }

    /**
     * Where a prefill node's KV cache is registered for direct NIXL reads: per layer K then V region
     * ({@code bases.length == 2 × layers}), each {@code regionBytes} long, block {@code b} at
     * {@code base + b × blockBytes}, elements of {@code dtype} (a {@code DType} name).
     */
    public record Direct(
            KvLayout layout,
            int numBlocks,
            String dtype,
            long blockBytes,
            String agent,
            byte[] metadata,
            long[] bases,
            long regionBytes) {
        /** The address of block {@code block} in region {@code region}, checked against the region's size. */
        public long blockAddress(int region, int block) {
            long offset = (long) block * blockBytes;
            if (block < 0 || offset + blockBytes > regionBytes) {
                throw new KvTransferException(
                        "block " + block + " lies outside the prefill node's KV region of " + regionBytes + " bytes");
            }
            return bases[region] + offset;
        }
    }

    /** A reply that is not OK, as the client sees it. */
    public static final class RemoteError extends KvTransferException {
        private final ChannelStatus status;

        public RemoteError(ChannelStatus status, String message) {
            super(message);
            this.status = status;
        }

        public ChannelStatus status() {
            return status;
        }
    }

    public static void writeRequest(DataOutputStream out, Request r) throws IOException {
        writeInt(out, MAGIC);
        out.writeByte(r.op().code);
        writeRequestBody(out, r);
        out.flush();
    }

    /** A request after its envelope ({@code magic op}): what the side-channel client sends as the body. */
    static void writeRequestBody(DataOutputStream out, Request r) throws IOException {
        writeString(out, r.engineId() == null ? "" : r.engineId());
        writeString(out, r.requestId());
        if (r.op() == Op.READ || r.op() == Op.STAGE || r.op() == Op.STAGE_DIRECT) {
            if (r.blockIds().length > MAX_BLOCKS) {
                throw new KvTransferException("too many blocks in one read: " + r.blockIds().length);
            }
            writeInt(out, r.promptTokens());
            writeInt(out, r.blockIds().length);
            for (int id : r.blockIds()) {
                writeInt(out, id);
            }
        }
    }

    public static Request readRequest(DataInputStream in) throws IOException {
        checkMagic(in);
        return readRequestBody(Op.of(in.readUnsignedByte()), in);
    }

    /** The rest of an {@code op} request after its envelope: what a side-channel handler reads. */
    static Request readRequestBody(Op op, DataInputStream in) throws IOException {
        String engine = readString(in);
        String request = readString(in);
        if (op == Op.RELEASE) {
            return Request.release(engine, request);
        }
        int tokens = readInt(in);
        int n = readInt(in);
        if (n < 0 || n > MAX_BLOCKS) {
            throw new KvTransferException("block count " + n + " outside 0.." + MAX_BLOCKS);
        }
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = readInt(in);
        }
        return new Request(op, engine, request, tokens, ids);
    }

    public static void writeError(DataOutputStream out, ChannelStatus status, String message) throws IOException {
        writeInt(out, MAGIC);
        out.writeByte(status.code());
        byte[] b = message.getBytes(StandardCharsets.UTF_8);
        writeString(out, b.length > MAX_STRING_BYTES ? message.substring(0, MAX_STRING_BYTES / 4) : message);
        out.flush();
    }

    /** The reply to a release. */
    public static void writeOk(DataOutputStream out) throws IOException {
        writeInt(out, MAGIC);
        out.writeByte(ChannelStatus.OK.code());
        out.flush();
    }

    /** The reply to a read. */
    public static void writeBlocks(DataOutputStream out, KvBlocks blocks) throws IOException {
        writeInt(out, MAGIC);
        out.writeByte(ChannelStatus.OK.code());
        writeBlocksBody(out, blocks);
        out.flush();
    }

    /** The body of a read's OK reply. */
    static void writeBlocksBody(DataOutputStream out, KvBlocks blocks) throws IOException {
        KvLayout l = blocks.layout();
        writeLayout(out, l, blocks.numBlocks());
        ByteBuffer buf = ByteBuffer.allocate(CHUNK_FLOATS * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int layer = 0; layer < l.layers(); layer++) {
            writeFloats(out, blocks.keys()[layer], buf);
            writeFloats(out, blocks.values()[layer], buf);
        }
    }

    /** The reply to a stage. */
    public static void writeStaged(DataOutputStream out, Staged s) throws IOException {
        writeInt(out, MAGIC);
        out.writeByte(ChannelStatus.OK.code());
        writeStagedBody(out, s);
        out.flush();
    }

    /** The body of a stage's OK reply. */
    static void writeStagedBody(DataOutputStream out, Staged s) throws IOException {
        writeLayout(out, s.layout(), s.numBlocks());
        writeString(out, s.agent());
        writeInt(out, s.metadata().length);
        out.write(s.metadata());
        out.writeLong(Long.reverseBytes(s.address()));
        out.writeLong(Long.reverseBytes(s.bytes()));
    }

    /**
     * Reads a stage's reply; the layout must be {@code expected}, the block count {@code numBlocks} and the size
     * what those blocks take.
     *
     * @throws RemoteError when the server refused
     */
    public static Staged readStaged(DataInputStream in, KvLayout expected, int numBlocks) throws IOException {
        readStatus(in);
        return readStagedBody(in, expected, numBlocks);
    }

    /** The body of a stage's OK reply, checked as {@link #readStaged} checks it. */
    static Staged readStagedBody(DataInputStream in, KvLayout expected, int numBlocks) throws IOException {
        readLayout(in, expected, numBlocks);
        String agent = readString(in);
        int mdLength = readInt(in);
        if (mdLength <= 0 || mdLength > MAX_METADATA_BYTES) {
            throw new KvTransferException("NIXL metadata of " + mdLength + " bytes outside 1.." + MAX_METADATA_BYTES);
        }
        byte[] md = new byte[mdLength];
        in.readFully(md);
        long address = Long.reverseBytes(in.readLong());
        long bytes = Long.reverseBytes(in.readLong());
        if (bytes != Staged.bytesFor(expected, numBlocks)) {
            throw new KvTransferException("the prefill node staged " + bytes + " bytes, " + numBlocks + " blocks take "
                    + Staged.bytesFor(expected, numBlocks));
        }
        return new Staged(expected, numBlocks, agent, md, address, bytes);
    }

    /** The body of a direct stage's OK reply. */
    static void writeDirectBody(DataOutputStream out, Direct d) throws IOException {
        writeLayout(out, d.layout(), d.numBlocks());
        writeString(out, d.dtype());
        out.writeLong(Long.reverseBytes(d.blockBytes()));
        writeString(out, d.agent());
        writeInt(out, d.metadata().length);
        out.write(d.metadata());
        writeInt(out, d.bases().length);
        for (long base : d.bases()) {
            out.writeLong(Long.reverseBytes(base));
            out.writeLong(Long.reverseBytes(d.regionBytes()));
        }
    }

    /** The body of a direct stage's OK reply; the layout must be {@code expected}, one K and V region a layer. */
    static Direct readDirectBody(DataInputStream in, KvLayout expected, int numBlocks) throws IOException {
        readLayout(in, expected, numBlocks);
        String dtype = readString(in);
        long blockBytes = Long.reverseBytes(in.readLong());
        String agent = readString(in);
        int mdLength = readInt(in);
        if (mdLength <= 0 || mdLength > MAX_METADATA_BYTES) {
            throw new KvTransferException("NIXL metadata of " + mdLength + " bytes outside 1.." + MAX_METADATA_BYTES);
        }
        byte[] md = new byte[mdLength];
        in.readFully(md);
        int regions = readInt(in);
        if (regions != 2 * expected.layers()) {
            throw new KvTransferException("the prefill node registered " + regions + " KV regions, " + expected.layers()
                    + " layers need " + 2 * expected.layers());
        }
        long[] bases = new long[regions];
        long regionBytes = -1;
        for (int r = 0; r < regions; r++) {
            bases[r] = Long.reverseBytes(in.readLong());
            long size = Long.reverseBytes(in.readLong());
            if (regionBytes >= 0 && size != regionBytes) {
                throw new KvTransferException("the prefill node's KV regions differ in size");
            }
            regionBytes = size;
        }
        if (blockBytes <= 0 || regionBytes < blockBytes) {
            throw new KvTransferException(
                    "the prefill node's KV blocks of " + blockBytes + " bytes in regions of " + regionBytes);
        }
        return new Direct(expected, numBlocks, dtype, blockBytes, agent, md, bases, regionBytes);
    }

    /** Reads an OK-or-error reply without a body (a release). */
    public static void readOk(DataInputStream in) throws IOException {
        readStatus(in);
    }

    /**
     * Reads a read's reply; the layout must be {@code expected} and the block count {@code numBlocks}.
     *
     * @throws RemoteError when the server refused
     */
    public static KvBlocks readBlocks(DataInputStream in, KvLayout expected, int numBlocks) throws IOException {
        readStatus(in);
        return readBlocksBody(in, expected, numBlocks);
    }

    /** The body of a read's OK reply, checked as {@link #readBlocks} checks it. */
    static KvBlocks readBlocksBody(DataInputStream in, KvLayout expected, int numBlocks) throws IOException {
        int n = readLayout(in, expected, numBlocks);
        long floats = expected.blockFloats(n);
        if (floats > Integer.MAX_VALUE - 8) {
            throw new KvTransferException("one layer of " + n + " blocks is too large for one transfer");
        }
        byte[] chunk = new byte[CHUNK_FLOATS * 4];
        float[][] keys = new float[expected.layers()][];
        float[][] values = new float[expected.layers()][];
        for (int layer = 0; layer < expected.layers(); layer++) {
            keys[layer] = readFloats(in, (int) floats, chunk);
            values[layer] = readFloats(in, (int) floats, chunk);
        }
        return new KvBlocks(expected, n, keys, values);
    }

    private static void writeLayout(DataOutputStream out, KvLayout l, int numBlocks) throws IOException {
        writeInt(out, l.layers());
        writeInt(out, l.kvHeads());
        writeInt(out, l.headDim());
        writeInt(out, l.blockSize());
        writeInt(out, numBlocks);
    }

    private static int readLayout(DataInputStream in, KvLayout expected, int numBlocks) throws IOException {
        KvLayout got = new KvLayout(readInt(in), readInt(in), readInt(in), readInt(in));
        if (!got.equals(expected)) {
            throw new KvTransferException("the prefill node's KV layout " + got + " differs from this node's "
                    + expected + " (same model and --block-size on both?)");
        }
        int n = readInt(in);
        if (n != numBlocks) {
            throw new KvTransferException("asked for " + numBlocks + " blocks, the prefill node sent " + n);
        }
        return n;
    }

    private static void readStatus(DataInputStream in) throws IOException {
        checkMagic(in);
        int code = in.readUnsignedByte();
        ChannelStatus s = ChannelStatus.of(code);
        if (s == null) {
            throw new KvTransferException("unknown KV side-channel status " + code);
        }
        if (s != ChannelStatus.OK) {
            throw new RemoteError(s, readString(in));
        }
    }

    private static void checkMagic(DataInputStream in) throws IOException {
        int m;
        try {
            m = readInt(in);
        } catch (EOFException e) {
            throw new KvTransferException("the peer closed the KV side channel before a frame");
        }
        if (m != MAGIC) {
            throw new KvTransferException("not a JEPD KV side-channel frame (magic 0x" + Integer.toHexString(m) + ")");
        }
    }

    private static void writeFloats(DataOutputStream out, float[] data, ByteBuffer buf) throws IOException {
        for (int off = 0; off < data.length; off += CHUNK_FLOATS) {
            int n = Math.min(CHUNK_FLOATS, data.length - off);
            buf.clear();
            buf.asFloatBuffer().put(data, off, n);
            out.write(buf.array(), 0, n * 4);
        }
    }

    private static float[] readFloats(DataInputStream in, int count, byte[] chunk) throws IOException {
        float[] out = new float[count];
        ByteBuffer buf = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
        for (int off = 0; off < count; off += CHUNK_FLOATS) {
            int n = Math.min(CHUNK_FLOATS, count - off);
            in.readFully(chunk, 0, n * 4);
            buf.clear();
            buf.asFloatBuffer().get(out, off, n);
        }
        return out;
    }

    private static void writeInt(DataOutputStream out, int v) throws IOException {
        out.writeInt(Integer.reverseBytes(v));
    }

    private static int readInt(DataInputStream in) throws IOException {
        return Integer.reverseBytes(in.readInt());
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > MAX_STRING_BYTES) {
            throw new KvTransferException("string of " + b.length + " bytes exceeds " + MAX_STRING_BYTES);
        }
        out.writeShort(Short.reverseBytes((short) b.length));
        out.write(b);
    }

    private static String readString(DataInputStream in) throws IOException {
        int len = Short.reverseBytes(in.readShort()) & 0xFFFF;
        if (len > MAX_STRING_BYTES) {
            throw new KvTransferException("string of " + len + " bytes exceeds " + MAX_STRING_BYTES);
        }
        byte[] b = new byte[len];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }
}
