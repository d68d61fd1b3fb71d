package dev.jepd.models.tiny;

import dev.jepd.engine.io.AtomicFiles;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.engine.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Writes generated tensors as one safetensors file, streaming: the header is known from the shapes alone,
 * and the data is generated in chunks of {@value #CHUNK} elements (several at once, in parallel) and written
 * as it comes, so a 1.2 GB embedding never exists as one array. The byte layout is the one
 * {@link dev.jepd.engine.safetensors.SafetensorsWriter} and Hugging Face's library write ({@code
 * __metadata__} first, tensors sorted by name, compact JSON, spaces to a multiple of 8), which the golden
 * file's sha256 pins.
 */
final class GeneratedSafetensors {
    static final int CHUNK = 1 << 20;

    private GeneratedSafetensors() {}

    static long dataBytes(List<TensorSpec> tensors, DType dtype) {
        return tensors.stream().mapToLong(t -> t.numel() * dtype.byteSize()).sum();
    }

    /** The header including its 8-byte little-endian length prefix, in the layout of the golden file. */
    static byte[] header(List<TensorSpec> tensors, DType dtype) {
        List<SafetensorsWriter.HeaderEntry> entries = new ArrayList<>();
        for (TensorSpec t : sorted(tensors)) {
            entries.add(new SafetensorsWriter.HeaderEntry(t.name(), dtype, t.shape()));
        }
        return SafetensorsWriter.header(Map.of("format", "pt"), entries);
    }

    /** Writes the file atomically (temporary sibling, fsync, rename); returns the data section's size. */
    static long write(Path target, List<TensorSpec> tensors, DType dtype, long seed) throws IOException {
        List<TensorSpec> order = sorted(tensors);
        int parallel = Math.max(1, Runtime.getRuntime().availableProcessors());
        // One buffer per chunk generated at once: parallel × 4 MiB (f32) of heap, whatever the model size.
        ByteBuffer[] buffers = new ByteBuffer[parallel];
        for (int i = 0; i < parallel; i++) {
            buffers[i] = ByteBuffer.allocate(CHUNK * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        }
        long[] written = {0};
        AtomicFiles.write(target, ch -> {
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(header(order, dtype)));
            for (TensorSpec t : order) {
                long key = CounterWeights.tensorKey(t.name(), seed);
                long numel = t.numel();
                for (long base = 0; base < numel; base += (long) CHUNK * parallel) {
                    long start = base;
                    int chunks = (int) Math.min(parallel, (numel - base + CHUNK - 1) / CHUNK);
                    IntStream.range(0, chunks).parallel().forEach(c -> {
                        long from = start + (long) c * CHUNK;
                        int count = (int) Math.min(CHUNK, numel - from);
                        ByteBuffer b = buffers[c].clear();
                        CounterWeights.fill(t, key, from, count, dtype, b);
                        b.flip();
                    });
                    for (int c = 0; c < chunks; c++) {
                        written[0] += buffers[c].remaining();
                        AtomicFiles.writeFully(ch, buffers[c]);
                    }
                }
            }
        });
        return written[0];
    }

    private static List<TensorSpec> sorted(List<TensorSpec> tensors) {
        return tensors.stream().sorted(Comparator.comparing(TensorSpec::name)).toList();
    }
}
