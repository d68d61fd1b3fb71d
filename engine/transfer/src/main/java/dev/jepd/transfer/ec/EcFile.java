package dev.jepd.transfer.ec;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcMissReason;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.engine.safetensors.Floats;
import dev.jepd.engine.safetensors.SafetensorsException;
import dev.jepd.engine.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;

/**
 * One EC entry on disk: {@code encoder_cache.safetensors} holding the single tensor {@code ec_cache}
 * {@code [num_tokens, D]}, the layout of vLLM's {@code ECExampleConnector}.
 *
 * <p>Reading copies the file into the heap instead of mmapping it through {@code SafetensorsFile}: vLLM's producer
 * writes in place (truncate, then write), and a mapping whose file shrinks under it faults on access (SIGBUS) where
 * a plain read merely comes back short. The header checks mirror {@code SafetensorsFile}'s.
 */
final class EcFile {
    static final String FILE_NAME = "encoder_cache.safetensors";
    static final String TENSOR_NAME = "ec_cache";
    /** Real headers are ~100 bytes; anything near this is not an EC entry. */
    private static final long MAX_HEADER = 1L << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    private EcFile() {}

    /** What a read found. */
    sealed interface Result permits Hit, Miss {}

    record Hit(EcEntry entry, long fileBytes) implements Result {}

    record Miss(EcMissReason reason, String detail) implements Result {}

    /** Writes atomically (temporary sibling + rename, by {@link SafetensorsWriter}); returns the data bytes. */
    static long write(Path file, float[] rows, int numTokens, int dim, DType dtype) throws IOException {
        // ec_cache: [numTokens, dim] in the model dtype, row-major.
        SafetensorsWriter.Entry tensor = SafetensorsWriter.Entry.ofFloats(rows, dtype, numTokens, dim);
        new SafetensorsWriter().put(TENSOR_NAME, tensor).write(file);
        return tensor.bytes().length;
    }

    /** Reads and validates {@code file}; never throws for bad data. */
    static Result read(Path file, String key, int expectedTokens, int expectedDim) {
        byte[] bytes;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            long limit = 8 + MAX_HEADER + (long) expectedTokens * expectedDim * DType.F32.byteSize();
            if (size > limit || size > Integer.MAX_VALUE - 16) {
                return new Miss(
                        EcMissReason.TOO_LARGE,
                        size + " bytes, an entry of [" + expectedTokens + ", " + expectedDim + "] needs at most "
                                + limit);
            }
            ByteBuffer buf = ByteBuffer.allocate((int) size);
            while (buf.hasRemaining()) {
                if (ch.read(buf) < 0) {
                    // Shrunk while we read: a writer truncated it in place.
                    return new Miss(
                            EcMissReason.MALFORMED,
                            "truncated while reading (" + buf.position() + " of " + size + " bytes)");
                }
            }
            bytes = buf.array();
        } catch (NoSuchFileException e) {
            return new Miss(EcMissReason.ABSENT, "no " + FILE_NAME);
        } catch (IOException | SecurityException e) {
            return new Miss(EcMissReason.IO_ERROR, e.toString());
        }
        return parse(bytes, key, expectedTokens, expectedDim);
    }

    static Result parse(byte[] bytes, String key, int expectedTokens, int expectedDim) {
        if (bytes.length < 8) {
            return new Miss(EcMissReason.MALFORMED, "truncated: " + bytes.length + " bytes, no header");
        }
        long headerLen =
                ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > bytes.length - 8L) {
            return new Miss(
                    EcMissReason.MALFORMED,
                    "header length " + headerLen + " in a file of " + bytes.length
                            + " bytes (truncated or not safetensors)");
        }
        int dataStart = 8 + (int) headerLen;
        long dataSize = bytes.length - (long) dataStart;
        JsonNode root;
        try {
            root = JSON.readTree(new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8).strip());
        } catch (IOException e) {
            return new Miss(EcMissReason.MALFORMED, "header is not JSON");
        }
        if (root == null || !root.isObject()) {
            return new Miss(EcMissReason.MALFORMED, "header is not a JSON object");
        }
        TensorSpan span = null;
        StringBuilder names = new StringBuilder();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            names.append(names.isEmpty() ? "" : ", ").append(e.getKey());
            TensorSpan s;
            try {
                s = TensorSpan.of(e.getKey(), e.getValue(), dataSize);
            } catch (SafetensorsException ex) {
                return new Miss(EcMissReason.MALFORMED, ex.getMessage());
            }
            if (e.getKey().equals(TENSOR_NAME)) {
                span = s;
            }
        }
        if (span == null) {
            return new Miss(EcMissReason.NO_TENSOR, "no tensor " + TENSOR_NAME + " (has: " + names + ")");
        }
        DType dtype = knownDType(span.dtype);
        if (dtype != DType.BF16 && dtype != DType.F16 && dtype != DType.F32) {
            return new Miss(EcMissReason.WRONG_DTYPE, TENSOR_NAME + " is " + span.dtype + ", not BF16/F16/F32");
        }
        if (span.shape.length != 2 || span.shape[0] != expectedTokens || span.shape[1] != expectedDim) {
            return new Miss(
                    EcMissReason.WRONG_SHAPE,
                    TENSOR_NAME + " is " + Arrays.toString(span.shape) + ", expected [" + expectedTokens + ", "
                            + expectedDim + "]");
        }
        if (span.end - span.begin != (long) expectedTokens * expectedDim * dtype.byteSize()) {
            return new Miss(
                    EcMissReason.MALFORMED,
                    TENSOR_NAME + " has " + (span.end - span.begin) + " bytes, "
                            + dtype + "[" + expectedTokens + ", " + expectedDim + "] needs "
                            + (long) expectedTokens * expectedDim * dtype.byteSize());
        }
        float[] rows = new float[expectedTokens * expectedDim]; // [numTokens, dim]
        Floats.widen(MemorySegment.ofArray(bytes), dataStart + span.begin, dtype, rows, 0, rows.length);
        return new Hit(new EcEntry(key, expectedTokens, expectedDim, rows), bytes.length);
    }

    /** The dtype named {@code name}, or null when JEPD does not know it. */
    private static DType knownDType(String name) {
        for (DType d : DType.values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        return null;
    }

    /** One header entry, checked the way {@code SafetensorsFile} checks it; dtype kept as text. */
    private record TensorSpan(String dtype, long[] shape, long begin, long end) {
        static TensorSpan of(String name, JsonNode node, long dataSize) {
            JsonNode dtype = node.get("dtype");
            JsonNode shape = node.get("shape");
            JsonNode offsets = node.get("data_offsets");
            if (dtype == null
                    || !dtype.isTextual()
                    || shape == null
                    || !shape.isArray()
                    || offsets == null
                    || !offsets.isArray()
                    || offsets.size() != 2
                    || !offsets.get(0).canConvertToExactIntegral()
                    || !offsets.get(1).canConvertToExactIntegral()) {
                throw new SafetensorsException("malformed header entry for " + name);
            }
            long[] dims = new long[shape.size()];
            long numel = 1;
            for (int i = 0; i < dims.length; i++) {
                JsonNode d = shape.get(i);
                if (!d.canConvertToExactIntegral() || d.asLong(-1) < 0) {
                    throw new SafetensorsException("tensor " + name + " has an invalid dimension " + d);
                }
                dims[i] = d.asLong();
                try {
                    numel = Math.multiplyExact(numel, dims[i]);
                } catch (ArithmeticException e) {
                    throw new SafetensorsException("tensor " + name + " has too many elements");
                }
            }
            long begin = offsets.get(0).asLong(-1);
            long end = offsets.get(1).asLong(-1);
            if (begin < 0 || end < begin || end > dataSize) {
                throw new SafetensorsException("tensor " + name + " spans bytes [" + begin + ", " + end
                        + ") but the data section has " + dataSize + " bytes (truncated file?)");
            }
            String dt = dtype.asText();
            DType known = knownDType(dt);
            // A dtype JEPD does not know is not damage by itself; it only matters if it is ec_cache's.
            if (known != null && (numel > dataSize || end - begin != numel * known.byteSize())) {
                throw new SafetensorsException("tensor " + name + " has " + (end - begin) + " bytes, shape "
                        + Arrays.toString(dims) + " " + known + " needs " + numel * known.byteSize());
            }
            return new TensorSpan(dt, dims, begin, end);
        }
    }
}
