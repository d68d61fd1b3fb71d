package dev.jepd.engine.safetensors;

import dev.jepd.engine.io.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes safetensors files in the byte layout of Hugging Face's library: {@code __metadata__} first,
 * tensors sorted by name with data in the same order, compact JSON, header padded with spaces to a
 * multiple of 8. Writes go to a temporary file in the target directory and are renamed into place
 * atomically, so a reader never sees a partial file.
 */
public final class SafetensorsWriter {
    /** One tensor to write: its dtype, shape and little-endian bytes. */
    public record Entry(DType dtype, long[] shape, byte[] bytes) {
        public Entry {
            long numel = 1;
            for (long d : shape) {
                numel *= d;
            }
            if (numel * dtype.byteSize() != bytes.length) {
                throw new IllegalArgumentException("tensor of shape " + java.util.Arrays.toString(shape) + " " + dtype
                        + " needs " + numel * dtype.byteSize() + " bytes, got " + bytes.length);
            }
        }

        public static Entry ofFloats(float[] values, DType dtype, long... shape) {
            return new Entry(dtype, shape, Floats.encode(values, dtype));
        }

        public static Entry ofLongs(long[] values, long... shape) {
            ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            b.asLongBuffer().put(values);
            return new Entry(DType.I64, shape, b.array());
        }
    }

    private final Map<String, Entry> tensors = new TreeMap<>();
    private final Map<String, String> metadata = new TreeMap<>();

    public SafetensorsWriter put(String name, Entry entry) {
        if (name.equals("__metadata__")) {
            throw new IllegalArgumentException("reserved tensor name " + name);
        }
        tensors.put(name, entry);
        return this;
    }

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** One tensor's header entry; its byte size follows from dtype and shape. */
    public record HeaderEntry(String name, DType dtype, long[] shape) {
        public long byteSize() {
            long n = dtype.byteSize();
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** The header bytes including the 8-byte length prefix. */
    byte[] header() {
        List<HeaderEntry> entries = new ArrayList<>(tensors.size());
        tensors.forEach((name, e) -> entries.add(new HeaderEntry(name, e.dtype(), e.shape())));
        return header(metadata, entries);
    }

    /**
     * The header for tensors whose data follows in the given order: the 8-byte little-endian length, compact
     * JSON with {@code __metadata__} first (when present), then space padding to a multiple of 8. Streaming
     * writers that produce the data themselves use this too.
     */
    public static byte[] header(Map<String, String> metadata, List<HeaderEntry> entries) {
        StringBuilder json = new StringBuilder("{");
        if (!metadata.isEmpty()) {
            json.append("\"__metadata__\":{");
            String sep = "";
            for (var m : new TreeMap<>(metadata).entrySet()) {
                json.append(sep).append(quote(m.getKey())).append(':').append(quote(m.getValue()));
                sep = ",";
            }
            json.append('}');
        }
        long offset = 0;
        String sep = metadata.isEmpty() ? "" : ",";
        for (HeaderEntry e : entries) {
            json.append(sep)
                    .append(quote(e.name()))
                    .append(":{\"dtype\":\"")
                    .append(e.dtype().name());
            json.append("\",\"shape\":[");
            for (int i = 0; i < e.shape().length; i++) {
                json.append(i == 0 ? "" : ",").append(e.shape()[i]);
            }
            json.append("],\"data_offsets\":[")
                    .append(offset)
                    .append(',')
                    .append(offset + e.byteSize())
                    .append("]}");
            offset += e.byteSize();
            sep = ",";
        }
        json.append('}');
        byte[] body = json.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (body.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(body);
        while (out.hasRemaining()) {
            out.put((byte) ' ');
        }
        return out.array();
    }

    /** Writes the file atomically: a temporary sibling, fsync, then rename over {@code target}. */
    public void write(Path target) throws IOException {
        AtomicFiles.write(target, ch -> {
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(header()));
            for (Entry e : tensors.values()) {
                AtomicFiles.writeFully(ch, ByteBuffer.wrap(e.bytes()));
            }
        });
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
