package dev.jepd.transfer.ec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcMissReason;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.engine.safetensors.Floats;
import dev.jepd.engine.safetensors.SafetensorsFile;
import dev.jepd.engine.safetensors.SafetensorsWriter;
import dev.jepd.engine.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SharedStorageEcConnectorTest {
    private static final String KEY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    @TempDir
    Path root;

    private SharedStorageEcConnector connector(DType dtype) {
        return new SharedStorageEcConnector(root, dtype, OptionalLong.empty());
    }

    static float[] randomRows(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * 3;
        }
        v[0] = 0f;
        v[1] = -0f;
        v[2] = 1e-40f; // subnormal
        v[3] = 65504f;
        return v;
    }

    @Test
    void bf16RoundTripIsExactlyTheRoundedValues() {
        SharedStorageEcConnector c = connector(DType.BF16);
        float[] rows = randomRows(6 * 16, 1); // [6, 16]
        assertFalse(c.contains(KEY));
        c.save(KEY, rows, 6, 16);
        assertTrue(c.contains(KEY));

        EcEntry e = c.load(KEY, 6, 16).orElseThrow();
        float[] expected = new float[rows.length];
        for (int i = 0; i < rows.length; i++) {
            expected[i] = dev.jepd.tensor.DType.bf16ToFloat(dev.jepd.tensor.DType.floatToBf16(rows[i]));
        }
        assertEquals(KEY, e.key());
        assertEquals(6, e.numTokens());
        assertEquals(16, e.dim());
        assertArrayEquals(expected, e.rows());
        assertEquals(1, c.hits());
        assertEquals(0, c.misses());
        assertEquals(1, c.saves());
    }

    @ParameterizedTest
    @EnumSource(
            value = DType.class,
            names = {"BF16", "F16", "F32"})
    void layoutIsVllmsExampleConnector(DType dtype) throws IOException {
        SharedStorageEcConnector c = connector(dtype);
        float[] rows = randomRows(3 * 4, 2); // [3, 4]
        c.save(KEY, rows, 3, 4);

        Path file = root.resolve(KEY).resolve("encoder_cache.safetensors");
        assertEquals(file, c.fileOf(KEY));
        assertEquals(List.of(file), listDir(root.resolve(KEY)), "only the entry: no temporary file left behind");
        assertEquals(List.of(root.resolve(KEY)), listDir(root));

        // Read it back with the full-validation reader: one tensor ec_cache [3, 4], no metadata.
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Set.of("ec_cache"), f.names());
            TensorInfo t = f.info("ec_cache");
            assertEquals(dtype, t.dtype());
            assertArrayEquals(new long[] {3, 4}, t.shape());
            assertTrue(f.metadata().isEmpty());
            assertArrayEquals(Floats.encode(rows, dtype), f.readBytes("ec_cache"));
        }

        // Byte for byte what SafetensorsWriter (HF's layout) makes: padded compact JSON header, then the data.
        byte[] bytes = Files.readAllBytes(file);
        long headerLen =
                ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8);
        int dataBytes = 12 * dtype.byteSize();
        assertEquals(
                "{\"ec_cache\":{\"dtype\":\"" + dtype + "\",\"shape\":[3,4],\"data_offsets\":[0," + dataBytes + "]}}",
                header.stripTrailing());
        assertEquals(0, headerLen % 8);
        assertEquals(8 + headerLen + dataBytes, bytes.length);
        Path viaWriter = root.resolve("reference.safetensors");
        new SafetensorsWriter()
                .put("ec_cache", SafetensorsWriter.Entry.ofFloats(rows, dtype, 3, 4))
                .write(viaWriter);
        assertArrayEquals(Files.readAllBytes(viaWriter), bytes);
        assertEquals(bytes.length, c.bytesStored());
    }

    @ParameterizedTest
    @EnumSource(
            value = DType.class,
            names = {"BF16", "F16", "F32"})
    void readsEveryFloatDtypeWhateverItWrites(DType stored) throws IOException {
        float[] rows = {1f, -2f, 0.5f, 3.25f, 100f, -0.125f}; // exact in all three
        writeRaw(KEY, "ec_cache", SafetensorsWriter.Entry.ofFloats(rows, stored, 2, 3));
        assertArrayEquals(
                rows, connector(DType.BF16).load(KEY, 2, 3).orElseThrow().rows());
    }

    @Test
    void overwriteReplacesTheEntry() {
        SharedStorageEcConnector c = connector(DType.F32);
        c.save(KEY, new float[] {1, 2}, 1, 2);
        c.save(KEY, new float[] {3, 4, 5, 6}, 2, 2);
        assertTrue(c.load(KEY, 1, 2).isEmpty());
        assertArrayEquals(
                new float[] {3, 4, 5, 6}, c.load(KEY, 2, 2).orElseThrow().rows());
        assertEquals(List.of(KEY), c.lruOrder());
    }

    // ---- misses: every one counted, none throws ----

    private EcMissReason missReason(SharedStorageEcConnector c, String key, int tokens, int dim) {
        EcFile.Result r = c.lookup(key, tokens, dim);
        return assertInstanceOf(EcFile.Miss.class, r).reason();
    }

    @Test
    void missingDirectoryIsAMiss() {
        SharedStorageEcConnector c = connector(DType.BF16);
        assertFalse(c.contains(KEY));
        assertEquals(Optional.empty(), c.load(KEY, 4, 8));
        assertEquals(EcMissReason.ABSENT, missReason(c, KEY, 4, 8));
        assertEquals(2, c.misses());
        assertFalse(Files.exists(root.resolve(KEY)), "lookups must not create directories");
    }

    @Test
    void emptyDirectoryAsVllmsConsumerLeavesItIsAMiss() throws IOException {
        Files.createDirectories(root.resolve(KEY));
        SharedStorageEcConnector c = connector(DType.BF16);
        assertFalse(c.contains(KEY));
        assertEquals(EcMissReason.ABSENT, missReason(c, KEY, 4, 8));
        assertEquals(0, c.bytesStored());
        // A save into the existing directory works.
        c.save(KEY, new float[32], 4, 8);
        assertTrue(c.load(KEY, 4, 8).isPresent());
    }

    @Test
    void truncatedFileIsAMiss() throws IOException {
        SharedStorageEcConnector c = connector(DType.BF16);
        c.save(KEY, randomRows(4 * 8, 3), 4, 8);
        Path file = c.fileOf(KEY);
        byte[] whole = Files.readAllBytes(file);
        for (int len : new int[] {0, 5, 8, 20, whole.length - 1}) {
            Files.write(file, java.util.Arrays.copyOf(whole, len));
            assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8), "truncated to " + len);
            assertTrue(c.contains(KEY), "contains is only a cheap existence check");
        }
        assertEquals(5, c.misses());
        assertEquals(0, c.hits());
    }

    @Test
    void garbageIsAMiss() throws IOException {
        SharedStorageEcConnector c = connector(DType.BF16);
        Files.createDirectories(root.resolve(KEY));
        Path file = c.fileOf(KEY);
        byte[] garbage = new byte[4096];
        new Random(4).nextBytes(garbage);
        Files.write(file, garbage);
        assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8));
        // A plausible length followed by text that is not JSON, and JSON that is not an object.
        Files.write(file, withHeader("not json at all", new byte[64]));
        assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8));
        Files.write(file, withHeader("[1,2,3]", new byte[64]));
        assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8));
        // Offsets past the data section, a size that does not match the shape, a negative dimension.
        Files.write(file, withHeader(header("BF16", "[4,8]", "[0,64]"), new byte[32]));
        assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8));
        Files.write(file, withHeader(header("BF16", "[4,8]", "[0,60]"), new byte[64]));
        assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8));
        Files.write(file, withHeader(header("BF16", "[-4,8]", "[0,64]"), new byte[64]));
        assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8));
        Files.write(file, withHeader("{\"ec_cache\":{\"dtype\":\"BF16\"}}", new byte[64]));
        assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8));
        assertEquals(7, c.misses());
    }

    @Test
    void hugeHeaderLengthIsAMissNotAnAllocation() throws IOException {
        SharedStorageEcConnector c = connector(DType.BF16);
        Files.createDirectories(root.resolve(KEY));
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE);
        Files.write(c.fileOf(KEY), b.array());
        assertEquals(EcMissReason.MALFORMED, missReason(c, KEY, 4, 8));
    }

    @Test
    void oversizedFileIsAMiss() throws IOException {
        SharedStorageEcConnector c = connector(DType.BF16);
        Files.createDirectories(root.resolve(KEY));
        Files.write(c.fileOf(KEY), new byte[2 << 20]);
        assertEquals(EcMissReason.TOO_LARGE, missReason(c, KEY, 4, 8));
    }

    @Test
    void wrongTensorNameIsAMiss() throws IOException {
        writeRaw(KEY, "image_embeds", SafetensorsWriter.Entry.ofFloats(new float[32], DType.BF16, 4, 8));
        SharedStorageEcConnector c = connector(DType.BF16);
        assertTrue(c.contains(KEY));
        assertEquals(EcMissReason.NO_TENSOR, missReason(c, KEY, 4, 8));
    }

    @Test
    void wrongShapeIsAMiss() {
        SharedStorageEcConnector c = connector(DType.BF16);
        c.save(KEY, new float[32], 4, 8);
        assertEquals(EcMissReason.WRONG_SHAPE, missReason(c, KEY, 5, 8)); // tokens differ
        assertEquals(EcMissReason.WRONG_SHAPE, missReason(c, KEY, 4, 16)); // dim differs (another model)
        assertEquals(EcMissReason.WRONG_SHAPE, missReason(c, KEY, 8, 4)); // same element count, transposed
        assertTrue(c.load(KEY, 4, 8).isPresent());
        assertEquals(3, c.misses());
        assertEquals(1, c.hits());
    }

    @Test
    void rankOtherThanTwoIsAMiss() throws IOException {
        writeRaw(KEY, "ec_cache", SafetensorsWriter.Entry.ofFloats(new float[32], DType.BF16, 1, 4, 8));
        assertEquals(EcMissReason.WRONG_SHAPE, missReason(connector(DType.BF16), KEY, 4, 8));
    }

    @Test
    void integerDtypeIsAMiss() throws IOException {
        writeRaw(KEY, "ec_cache", SafetensorsWriter.Entry.ofLongs(new long[32], 4, 8));
        SharedStorageEcConnector c = connector(DType.BF16);
        assertEquals(EcMissReason.WRONG_DTYPE, missReason(c, KEY, 4, 8));
        writeRaw(KEY, "ec_cache", new SafetensorsWriter.Entry(DType.F64, new long[] {4, 8}, new byte[32 * 8]));
        assertEquals(EcMissReason.WRONG_DTYPE, missReason(c, KEY, 4, 8));
        Files.write(c.fileOf(KEY), withHeader(header("F8_E4M3", "[4,8]", "[0,32]"), new byte[32]));
        assertEquals(EcMissReason.WRONG_DTYPE, missReason(c, KEY, 4, 8));
        assertEquals(3, c.misses());
    }

    @Test
    void extraTensorsAndMetadataAreTolerated() throws IOException {
        Path file = root.resolve(KEY).resolve("encoder_cache.safetensors");
        new SafetensorsWriter()
                .metadata("format", "pt")
                .put("ec_cache", SafetensorsWriter.Entry.ofFloats(new float[] {1, 2, 3, 4}, DType.BF16, 2, 2))
                .put("grid_thw", SafetensorsWriter.Entry.ofLongs(new long[] {1, 4, 4}, 3))
                .write(file);
        assertArrayEquals(
                new float[] {1, 2, 3, 4},
                connector(DType.BF16).load(KEY, 2, 2).orElseThrow().rows());
    }

    @Test
    void unsafeKeysNeverReachTheFileSystem() {
        SharedStorageEcConnector c = connector(DType.BF16);
        for (String bad : new String[] {"../x", "..", "a/b", ""}) {
            assertThrows(InvalidEcKeyException.class, () -> c.contains(bad));
            assertThrows(InvalidEcKeyException.class, () -> c.load(bad, 1, 1));
            assertThrows(InvalidEcKeyException.class, () -> c.save(bad, new float[1], 1, 1));
        }
        assertThrows(IllegalArgumentException.class, () -> c.save(KEY, new float[3], 2, 2));
        assertThrows(IllegalArgumentException.class, () -> c.load(KEY, 0, 2));
        assertEquals(0, c.misses());
    }

    @Test
    void fromConfig() {
        EcTransferConfig cfg =
                EcTransferConfig.parse("{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"ec_both\","
                        + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"" + root.resolve("store")
                        + "\",\"capacity_bytes\":123456}}");
        SharedStorageEcConnector c = SharedStorageEcConnector.open(cfg, DType.BF16);
        assertEquals(root.resolve("store").toAbsolutePath(), c.root());
        assertTrue(Files.isDirectory(c.root()));
        assertEquals(OptionalLong.of(123456), c.capacityBytes());
        assertThrows(
                IllegalArgumentException.class,
                () -> new SharedStorageEcConnector(root, DType.I64, OptionalLong.empty()));
    }

    // ---- helpers ----

    private void writeRaw(String key, String tensorName, SafetensorsWriter.Entry entry) throws IOException {
        new SafetensorsWriter().put(tensorName, entry).write(root.resolve(key).resolve("encoder_cache.safetensors"));
    }

    private static String header(String dtype, String shape, String offsets) {
        return "{\"ec_cache\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
    }

    private static byte[] withHeader(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + data.length)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length)
                .put(h)
                .put(data)
                .array();
    }

    static List<Path> listDir(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }
}
