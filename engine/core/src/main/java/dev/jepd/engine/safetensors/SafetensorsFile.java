package dev.jepd.engine.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One safetensors file, mmapped read-only. The header is validated completely on open (offsets inside
 * the file, sizes matching shape × dtype, no overlaps), so every later read is in bounds.
 */
public final class SafetensorsFile implements TensorSource {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ValueLayout.OfLong LONG_LE =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** The reference implementation refuses headers above 100 MB. */
    private static final long MAX_HEADER = 100L << 20;

    private final Path path;
    // One arena per open file: the mapping lives exactly as long as this object.
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(
            Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafetensorsException(path + ": truncated safetensors file (" + size + " bytes, no header)");
            }
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = all.get(LONG_LE, 0);
            if (headerLen < 2 || headerLen > MAX_HEADER || 8 + headerLen > size) {
                throw new SafetensorsException(path + ": invalid header length " + headerLen + " for a file of " + size
                        + " bytes (truncated or not safetensors)");
            }
            byte[] header = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = all.asSlice(8 + headerLen);
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = parseHeader(path, header, data.byteSize(), metadata);
            return new SafetensorsFile(path, arena, data, tensors, metadata);
        } catch (IOException e) {
            arena.close();
            throw new SafetensorsException(path + ": cannot read (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, TensorInfo> parseHeader(
            Path path, byte[] header, long dataSize, Map<String, String> metadataOut) {
        JsonNode root;
        try {
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8).strip());
        } catch (IOException e) {
            throw new SafetensorsException(path + ": header is not valid JSON (" + e.getMessage() + ")");
        }
        if (root == null || !root.isObject()) {
            throw new SafetensorsException(path + ": header is not a JSON object");
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                e.getValue()
                        .fields()
                        .forEachRemaining(
                                m -> metadataOut.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            tensors.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), dataSize));
        }
        List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin));
        for (int i = 1; i < byOffset.size(); i++) {
            if (byOffset.get(i).begin() < byOffset.get(i - 1).end()) {
                throw new SafetensorsException(path + ": tensors "
                        + byOffset.get(i - 1).name() + " and " + byOffset.get(i).name() + " overlap");
            }
        }
        return Collections.unmodifiableMap(tensors);
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode node, long dataSize) {
        JsonNode dtype = node.get("dtype");
        JsonNode shape = node.get("shape");
        JsonNode offsets = node.get("data_offsets");
        if (dtype == null || shape == null || offsets == null || !shape.isArray() || offsets.size() != 2) {
            throw new SafetensorsException(path + ": malformed header entry for " + name);
        }
        DType dt;
        try {
            dt = DType.parse(dtype.asText());
        } catch (SafetensorsException e) {
            throw new SafetensorsException(path + ": tensor " + name + ": " + e.getMessage());
        }
        long[] dims = new long[shape.size()];
        long numel = 1;
        for (int i = 0; i < dims.length; i++) {
            dims[i] = shape.get(i).asLong(-1);
            if (dims[i] < 0) {
                throw new SafetensorsException(path + ": tensor " + name + " has a negative dimension");
            }
            numel = Math.multiplyExact(numel, dims[i]);
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataSize) {
            throw new SafetensorsException(path + ": tensor " + name + " spans bytes [" + begin + ", " + end
                    + ") but the data section has " + dataSize + " bytes (truncated file?)");
        }
        if (end - begin != numel * dt.byteSize()) {
            throw new SafetensorsException(path + ": tensor " + name + " has " + (end - begin) + " bytes, shape "
                    + java.util.Arrays.toString(dims) + " " + dt + " needs " + numel * dt.byteSize());
        }
        return new TensorInfo(name, dt, dims, begin, end);
    }

    public Path path() {
        return path;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        return tensors.get(name);
    }

    @Override
    public String location(String name) {
        return path.toString();
    }

    /** The stored bytes of one tensor, valid while this file is open. */
    @Override
    public MemorySegment segment(String name) {
        TensorInfo t = require(name);
        return data.asSlice(t.begin(), t.byteSize());
    }

    @Override
    public float[] readFloats(String name) {
        TensorInfo t = require(name);
        if (!t.dtype().isFloatingPoint()) {
            throw new SafetensorsException(path + ": tensor " + name + " is " + t.dtype() + ", not floating point");
        }
        float[] out = new float[Math.toIntExact(t.numel())];
        Floats.widen(data, t.begin(), t.dtype(), out, 0, out.length);
        return out;
    }

    @Override
    public long[] readLongs(String name) {
        TensorInfo t = require(name);
        long[] out = new long[Math.toIntExact(t.numel())];
        long off = t.begin();
        for (int i = 0; i < out.length; i++) {
            out[i] = switch (t.dtype()) {
                case I64 -> data.get(LONG_LE, off + 8L * i);
                case I32 -> data.get(INT_LE, off + 4L * i);
                case I16 -> data.get(SHORT_LE, off + 2L * i);
                case I8 -> data.get(ValueLayout.JAVA_BYTE, off + i);
                case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, off + i) & 0xFF;
                case BF16, F16, F32, F64 ->
                    throw new SafetensorsException(path + ": tensor " + name + " is " + t.dtype() + ", not integer");
            };
        }
        return out;
    }

    @Override
    public byte[] readBytes(String name) {
        return segment(name).toArray(ValueLayout.JAVA_BYTE);
    }

    private TensorInfo require(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new SafetensorsException(path + ": no tensor named " + name);
        }
        return t;
    }

    @Override
    public void close() {
        arena.close();
    }
}
