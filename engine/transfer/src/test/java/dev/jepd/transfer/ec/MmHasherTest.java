package dev.jepd.transfer.ec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.transfer.ec.MmHasher.Algorithm;
import dev.jepd.transfer.ec.MmHasher.Format;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.LocalDate;
import java.util.HashSet;
import java.util.Set;
import org.apache.commons.codec.binary.Hex;
import org.apache.commons.codec.digest.Blake3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

class MmHasherTest {
    private static final String MODEL = "Qwen/Qwen2.5-VL-3B-Instruct";

    /** The "image file" of the pinned vectors; make_mm_hash_vectors.sh builds the same bytes. */
    private static byte[] image() {
        byte[] b = new byte[1000];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) ((i * 31 + 7) & 0xFF);
        }
        return b;
    }

    /**
     * BLAKE3's official test vectors (input byte i = i % 251), as b3sum 1.2.0 prints them: they pin that commons-codec's
     * Blake3 is the real BLAKE3 across the chunk (1024) and tree boundaries.
     */
    @ParameterizedTest
    @CsvSource({
        "0, af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        "1, 2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
        "1023, 10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
        "1024, 42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
        "1025, d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
        "2048, e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a",
        "2049, 5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030",
        "3072, b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2",
        "4097, 9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995",
        "5120, 9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833",
        "31744, 62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47",
        "102400, bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"
    })
    void commonsCodecBlake3MatchesOfficialVectors(int length, String expected) {
        byte[] input = new byte[length];
        for (int i = 0; i < length; i++) {
            input[i] = (byte) (i % 251);
        }
        assertEquals(expected, Hex.encodeHexString(Blake3.hash(input)));
        // Streaming in uneven pieces, as the hasher feeds chunks, gives the same digest.
        Blake3 b = Blake3.initHash();
        for (int off = 0; off < length; off += 333) {
            b.update(input, off, Math.min(333, length - off));
        }
        assertEquals(expected, Hex.encodeHexString(b.doFinalize(32)));
    }

    @Test
    void shaKnownVectors() throws Exception {
        byte[] abc = "abc".getBytes(StandardCharsets.US_ASCII);
        assertEquals(
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                Hex.encodeHexString(MessageDigest.getInstance("SHA-256").digest(abc)));
        assertEquals(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                        + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
                Hex.encodeHexString(MessageDigest.getInstance("SHA-512").digest(abc)));
    }

    /** The stream each format feeds to the digest, rebuilt here from the format definition alone. */
    private static byte[] stream(Format format, String model, byte[] image) {
        byte[] m = model.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        switch (format) {
            case UNFRAMED -> {
                out.writeBytes(bytes("model_id"));
                out.writeBytes(m);
                out.writeBytes(bytes("image")); // the kwarg name (the modality)
                out.writeBytes(bytes("image")); // MediaWithBytes' own key for original_bytes
                out.writeBytes(image);
            }
            case UNFRAMED_TRUNCATION -> {
                out.writeBytes(bytes("model_id"));
                out.writeBytes(m);
                out.writeBytes(bytes("image"));
                out.writeBytes(bytes("image"));
                out.writeBytes(image);
                out.writeBytes(bytes("truncation"));
                out.write(0);
            }
            case SORTED_TRUNCATION -> {
                out.writeBytes(bytes("image"));
                out.writeBytes(bytes("image"));
                out.writeBytes(image);
                out.writeBytes(bytes("model_id"));
                out.writeBytes(m);
                out.writeBytes(bytes("truncation"));
                out.write(0);
            }
            case UNFRAMED_SORTED, SORTED_IO_CONFIG -> { // an RGB image carries no io_config
                out.writeBytes(bytes("image"));
                out.writeBytes(bytes("image"));
                out.writeBytes(image);
                out.writeBytes(bytes("model_id"));
                out.writeBytes(m);
            }
            case FRAMED -> {
                out.writeBytes(lengthPrefixed(bytes("image")));
                out.write(0x03);
                out.writeBytes(lengthPrefixed(bytes("image")));
                out.write(0x03);
                out.writeBytes(lengthPrefixed(image));
                out.writeBytes(lengthPrefixed(bytes("model_id")));
                out.write(0x03);
                out.writeBytes(lengthPrefixed(m));
            }
        }
        return out.toByteArray();
    }

    private static byte[] lengthPrefixed(byte[] chunk) {
        return ByteBuffer.allocate(8 + chunk.length)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(chunk.length)
                .put(chunk)
                .array();
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static String digest(Algorithm algorithm, byte[] data) throws Exception {
        return switch (algorithm) {
            case BLAKE3 -> Hex.encodeHexString(Blake3.hash(data));
            case SHA256 ->
                Hex.encodeHexString(MessageDigest.getInstance("SHA-256").digest(data));
            case SHA512 ->
                Hex.encodeHexString(MessageDigest.getInstance("SHA-512").digest(data));
        };
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void keyIsTheDigestOfTheHandBuiltStream(Format format) throws Exception {
        byte[] image = image();
        for (Algorithm a : Algorithm.values()) {
            assertEquals(
                    digest(a, stream(format, MODEL, image)),
                    new MmHasher(a, format).key(MODEL, image),
                    a + " " + format);
        }
    }

    /** Digests computed outside the JVM by make_mm_hash_vectors.sh (python3 + b3sum / sha256sum / sha512sum). */
    @Test
    void matchesExternallyComputedVectors() throws IOException {
        int checked = 0;
        try (InputStream in = MmHasherTest.class.getResourceAsStream("/ec/mm_hash_vectors.txt")) {
            assertNotNull(in, "ec/mm_hash_vectors.txt on the test classpath");
            for (String line : new String(in.readAllBytes(), StandardCharsets.US_ASCII).split("\n")) {
                if (line.isBlank()) {
                    continue;
                }
                String[] f = line.trim().split(" ");
                MmHasher h = new MmHasher(Algorithm.parse(f[1]), Format.valueOf(f[0]));
                assertEquals(f[2], h.key(MODEL, image()), line);
                checked++;
            }
        }
        assertEquals(9, checked);
    }

    @Test
    void formatsAndAlgorithmsGiveDistinctKeys() {
        Set<String> keys = new HashSet<>();
        for (Format f : Format.values()) {
            for (Algorithm a : Algorithm.values()) {
                keys.add(new MmHasher(a, f).key(MODEL, image()));
            }
        }
        // sorted-ioconfig keys an RGB image as sorted does; every other pair differs.
        assertEquals((Format.values().length - 1) * Algorithm.values().length, keys.size());
        for (Algorithm a : Algorithm.values()) {
            assertEquals(
                    new MmHasher(a, Format.UNFRAMED_SORTED).key(MODEL, image()),
                    new MmHasher(a, Format.SORTED_IO_CONFIG).key(MODEL, image()));
            assertNotEquals(
                    new MmHasher(a, Format.UNFRAMED_SORTED).key(MODEL, image(), true),
                    new MmHasher(a, Format.SORTED_IO_CONFIG).key(MODEL, image(), true));
        }
        assertEquals(64, MmHasher.DEFAULT.key(MODEL, image()).length());
        assertEquals(
                128,
                new MmHasher(Algorithm.SHA512, Format.FRAMED)
                        .key(MODEL, image())
                        .length());
    }

    @Test
    void keyDependsOnModelStringAndEveryByte() {
        byte[] image = image();
        String k = MmHasher.DEFAULT.key(MODEL, image);
        assertEquals(k, MmHasher.DEFAULT.key(MODEL, image.clone()));
        assertNotEquals(k, MmHasher.DEFAULT.key("Qwen/Qwen2.5-VL-7B-Instruct", image));
        image[999] ^= 1;
        assertNotEquals(k, MmHasher.DEFAULT.key(MODEL, image));
        // Unicode model names are hashed as UTF-8, as Python's str.encode("utf-8").
        assertEquals(
                new MmHasher(Algorithm.BLAKE3, Format.UNFRAMED).key("modèle", new byte[0]),
                Hex.encodeHexString(Blake3.hash("model_idmodèleimageimage".getBytes(StandardCharsets.UTF_8))));
    }

    @Test
    void algorithmNamesAsVllmSpellsThem() {
        assertEquals(Algorithm.BLAKE3, Algorithm.parse("blake3"));
        assertEquals(Algorithm.SHA256, Algorithm.parse("SHA256"));
        assertEquals(Algorithm.SHA512, Algorithm.parse("sha512"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Algorithm.parse("md5"));
        assertEquals("unsupported --mm-hasher-algorithm md5 (accepted: blake3, sha256, sha512)", e.getMessage());
    }

    /**
     * Goldens made by {@code ec/mm_hash/make_mm_hash_goldens.py} with vLLM's own {@code MultiModalHasher} on real
     * images (PNG RGB, JPEG, palette PNG, RGBA PNG) loaded as vLLM's chat path loads {@code data:} and {@code file://}
     * URLs, and on hashed uuids. sha256/sha512 are vLLM's digests; for blake3 the file pins the chunks vLLM feeds its
     * hasher, which are hashed here with commons-codec's Blake3 (checked against BLAKE3's official vectors above).
     */
    @Test
    void matchesGoldensMadeWithVllmsHasher() throws Exception {
        JsonNode root;
        try (InputStream in = MmHasherTest.class.getResourceAsStream("/ec/mm_hash/goldens.json")) {
            assertNotNull(in, "ec/mm_hash/goldens.json on the test classpath");
            root = new ObjectMapper().readTree(in);
        }
        String model = root.get("model").asText();
        int checked = 0;
        Set<String> imageKinds = new HashSet<>();
        for (JsonNode c : root.get("cases")) {
            String uuid = c.get("uuid").isNull() ? null : c.get("uuid").asText();
            byte[] image = uuid != null
                    ? null
                    : resource("/ec/mm_hash/" + c.get("image").asText());
            if (uuid == null) {
                imageKinds.add(c.get("url_kind").asText());
            }
            var formats = c.get("formats").properties();
            for (var f : formats) {
                Format format = Format.valueOf(f.getKey());
                JsonNode e = f.getValue();
                String what = c.get("image") + " " + c.get("url_kind") + " " + format;
                for (Algorithm a : new Algorithm[] {Algorithm.SHA256, Algorithm.SHA512}) {
                    MmHasher h = new MmHasher(a, format);
                    String got = uuid != null ? h.uuidKey(model, uuid) : h.key(model, image);
                    assertEquals(e.get(a.cliName()).asText(), got, what + " " + a);
                    checked++;
                }
                ByteArrayOutputStream stream = new ByteArrayOutputStream();
                for (JsonNode chunk : e.get("blake3_chunks_hex")) {
                    stream.writeBytes(chunk.asText().equals("@image") ? image : Hex.decodeHex(chunk.asText()));
                }
                MmHasher b3 = new MmHasher(Algorithm.BLAKE3, format);
                assertEquals(
                        Hex.encodeHexString(Blake3.hash(stream.toByteArray())),
                        uuid != null ? b3.uuidKey(model, uuid) : b3.key(model, image),
                        what + " blake3");
                checked++;
            }
        }
        // 5 images x 2 URL kinds + 2 uuids, 4 formats, 3 algorithms
        assertEquals(12 * 4 * 3, checked);
        assertEquals(Set.of("data", "file"), imageKinds);
    }

    /**
     * Goldens made by {@code ec/mm_hash/make_mm_hash_framed_goldens.py} with vLLM's own framed {@code MultiModalHasher}
     * (PR #54283) on the same images, loaded as that era's chat path loads them: the palette and RGBA images, which
     * PIL does not open as RGB, carry vLLM's {@code io_config} (PR #49975). Pins {@link Format#FRAMED} byte for byte.
     */
    @Test
    void matchesFramedGoldensMadeWithVllmsFramedHasher() throws Exception {
        // 5 images x 2 URL kinds + 2 uuids; the palette and RGBA images as both URL kinds
        checkIoConfigGoldens("goldens_framed.json", "FRAMED", Format.FRAMED, 12, 4);
    }

    /**
     * Goldens made by {@code ec/mm_hash/make_mm_hash_sorted_ioconfig_goldens.py} with the {@code hasher.py} of vLLM's
     * sorted era after PR #49975 (sorted kwargs, no framing, {@code io_config} hashed; a whole copy from a fork of
     * vLLM of that window, cross-checked there against a second one) on the same images plus a gray and a CMYK one:
     * the palette, RGBA, gray and CMYK images carry {@code io_config}. Pins {@link Format#SORTED_IO_CONFIG} byte for
     * byte; its RGB and uuid cases are also {@link Format#UNFRAMED_SORTED}'s.
     */
    @Test
    void matchesSortedIoConfigGoldensMadeWithThatErasHasher() throws Exception {
        // 7 images x 2 URL kinds + 2 uuids; palette, RGBA, gray and CMYK as both URL kinds
        checkIoConfigGoldens("goldens_sorted_ioconfig.json", "SORTED_IO_CONFIG", Format.SORTED_IO_CONFIG, 16, 8);
    }

    private static void checkIoConfigGoldens(
            String file, String formatKey, Format format, int expectedCases, int expectedConverted) throws Exception {
        JsonNode root;
        try (InputStream in = MmHasherTest.class.getResourceAsStream("/ec/mm_hash/" + file)) {
            assertNotNull(in, "ec/mm_hash/" + file + " on the test classpath");
            root = new ObjectMapper().readTree(in);
        }
        String model = root.get("model").asText();
        int checked = 0;
        int converted = 0;
        Set<String> modes = new HashSet<>();
        for (JsonNode c : root.get("cases")) {
            String uuid = c.get("uuid").isNull() ? null : c.get("uuid").asText();
            byte[] image = uuid != null
                    ? null
                    : resource("/ec/mm_hash/" + c.get("image").asText());
            boolean convertedToRgb = !c.get("io_config").isNull();
            if (convertedToRgb) {
                assertNotEquals("RGB", c.get("pil_mode").asText());
                modes.add(c.get("pil_mode").asText());
                assertEquals(
                        "{\"image_mode\":\"RGB\",\"rgba_background_color\":[255,255,255]}",
                        c.get("io_config").toString());
                converted++;
            } else if (uuid == null) {
                assertEquals("RGB", c.get("pil_mode").asText());
            }
            JsonNode e = c.get("formats").get(formatKey);
            String what = c.get("image") + " " + c.get("url_kind");
            for (Algorithm a : new Algorithm[] {Algorithm.SHA256, Algorithm.SHA512}) {
                MmHasher h = new MmHasher(a, format);
                String got = uuid != null ? h.uuidKey(model, uuid) : h.key(model, image, convertedToRgb);
                assertEquals(e.get(a.cliName()).asText(), got, what + " " + a);
                checked++;
            }
            ByteArrayOutputStream stream = new ByteArrayOutputStream();
            for (JsonNode chunk : e.get("blake3_chunks_hex")) {
                stream.writeBytes(chunk.asText().equals("@image") ? image : Hex.decodeHex(chunk.asText()));
            }
            MmHasher b3 = new MmHasher(Algorithm.BLAKE3, format);
            assertEquals(
                    Hex.encodeHexString(Blake3.hash(stream.toByteArray())),
                    uuid != null ? b3.uuidKey(model, uuid) : b3.key(model, image, convertedToRgb),
                    what + " blake3");
            checked++;
            if (uuid == null && !convertedToRgb) { // an RGB image: the flag is what makes the difference
                assertNotEquals(h(format).key(model, image, true), h(format).key(model, image));
            }
        }
        assertEquals(expectedCases * 3, checked);
        assertEquals(expectedConverted, converted);
        assertTrue(modes.containsAll(Set.of("P", "RGBA")), modes.toString());
    }

    /** The unframed io_config layout, rebuilt here from its definition: dotted keys, int64 channels. */
    @Test
    void sortedIoConfigStreamOfAConvertedImage() throws Exception {
        byte[] image = image();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(bytes("image"));
        out.writeBytes(bytes("image.io_config.image_mode"));
        out.writeBytes(bytes("RGB"));
        for (int channel = 0; channel < 3; channel++) {
            out.writeBytes(bytes("image.io_config.rgba_background_color." + channel));
            out.writeBytes(ByteBuffer.allocate(8)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(255)
                    .array());
        }
        out.writeBytes(bytes("image.data"));
        out.writeBytes(image);
        out.writeBytes(bytes("model_id"));
        out.writeBytes(bytes(MODEL));
        for (Algorithm a : Algorithm.values()) {
            assertEquals(
                    digest(a, out.toByteArray()),
                    new MmHasher(a, Format.SORTED_IO_CONFIG).key(MODEL, image, true),
                    a.toString());
        }
    }

    @Test
    void onlyTheFormatsFromPr49975OnHashTheConversion() {
        for (Format f : Format.values()) {
            boolean differs = !h(f).key(MODEL, image(), true).equals(h(f).key(MODEL, image(), false));
            assertEquals(f == Format.FRAMED || f == Format.SORTED_IO_CONFIG, differs, f.toString());
            assertEquals(differs, f.hashesIoConfig(), f.toString());
        }
    }

    private static MmHasher h(Format format) {
        return new MmHasher(Algorithm.SHA256, format);
    }

    private static byte[] resource(String path) throws IOException {
        try (InputStream in = MmHasherTest.class.getResourceAsStream(path)) {
            assertNotNull(in, path);
            return in.readAllBytes();
        }
    }

    @Test
    void formatNamesAndVllmDates() {
        assertEquals(Format.SORTED_TRUNCATION, Format.parse("sorted-truncation"));
        assertEquals(Format.UNFRAMED_SORTED, Format.parse("sorted"));
        assertEquals(Format.UNFRAMED_SORTED, Format.parse("UNFRAMED_SORTED"));
        assertThrows(IllegalArgumentException.class, () -> Format.parse("md5"));
        assertEquals(Format.UNFRAMED_TRUNCATION, Format.forVllmDate(LocalDate.of(2026, 2, 5)));
        assertEquals(Format.SORTED_TRUNCATION, Format.forVllmDate(LocalDate.of(2026, 2, 6)));
        assertEquals(Format.SORTED_TRUNCATION, Format.forVllmDate(LocalDate.of(2026, 2, 16)));
        assertEquals(Format.UNFRAMED_SORTED, Format.forVllmDate(LocalDate.of(2026, 2, 17)));
        // PR #49975 (io_config hashed) was merged on 2026-07-29; the framing (PR #54283) is taken from 2026-09-15.
        assertEquals(Format.UNFRAMED_SORTED, Format.forVllmDate(LocalDate.of(2026, 7, 28)));
        assertEquals(Format.SORTED_IO_CONFIG, Format.forVllmDate(LocalDate.of(2026, 7, 29)));
        assertEquals(Format.SORTED_IO_CONFIG, Format.forVllmDate(LocalDate.of(2026, 9, 14)));
        assertEquals(Format.FRAMED, Format.forVllmDate(LocalDate.of(2026, 9, 15)));
        assertEquals(Format.SORTED_IO_CONFIG, Format.parse("sorted-ioconfig"));
        assertEquals(Format.SORTED_IO_CONFIG, Format.parse("SORTED_IO_CONFIG"));
        assertFalse(Format.SORTED_IO_CONFIG.hashesUuid());
        assertEquals(Format.FRAMED, Format.forVllmDate(LocalDate.of(2026, 11, 1)));
        assertTrue(Format.UNFRAMED_TRUNCATION.hashesUuid());
        assertTrue(Format.SORTED_TRUNCATION.hashesUuid());
        assertFalse(Format.UNFRAMED_SORTED.hashesUuid());
    }

    @Test
    void vllmReleasesMapOnlyWhereChecked() {
        // v0.32.0's MultiModalHasher frames every chunk (PR #54283).
        assertEquals(Format.FRAMED, Format.forVllmRelease("v0.32.0"));
        assertEquals(Format.FRAMED, Format.forVllmRelease("0.32.0"));
        assertTrue(Format.isVllmRelease("v0.15.1"));
        assertTrue(Format.isVllmRelease("0.15.1"));
        assertFalse(Format.isVllmRelease("2026-03-01"));
        assertFalse(Format.isVllmRelease("v0.16"));
        // v0.12.0 and older hash decoded pixels: no format, uuids needed.
        for (String pixels : new String[] {"v0.12.0", "0.11.0", "v0.9.2"}) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> Format.forVllmRelease(pixels));
            assertTrue(e.getMessage().contains("pixels") && e.getMessage().contains("uuid"), e.getMessage());
        }
        // v0.15.0 hashes bytes, but its kwarg order and truncation were not checked.
        IllegalArgumentException v15 =
                assertThrows(IllegalArgumentException.class, () -> Format.forVllmRelease("v0.15.0"));
        assertTrue(v15.getMessage().contains("not mapped") && v15.getMessage().contains("#33817"), v15.getMessage());
        // Unmapped and malformed releases are refused, never guessed.
        for (String unmapped : new String[] {"v0.15.1", "0.16.0", "v0.31.0", "v0.33.0", "v1.0.0"}) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> Format.forVllmRelease(unmapped));
            assertTrue(
                    e.getMessage().contains("not mapped") && e.getMessage().contains("--vllm-compat"), e.getMessage());
        }
        for (String bad : new String[] {"v0.16", "0.x.1", "", "latest"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Format.forVllmRelease(bad));
            assertTrue(e.getMessage().contains("no vLLM release"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Format.forVllmRelease(null));
    }
}
