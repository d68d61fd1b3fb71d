package dev.jepd.transfer.ec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class EcKeysTest {
    @ParameterizedTest
    @ValueSource(
            strings = {
                "a",
                "sku-1234-a",
                "img_01.png",
                "0f3a9c",
                "A.B-C_d",
                ".hidden",
                "trailing.",
                "-leading-dash",
                "550e8400-e29b-41d4-a716-446655440000"
            })
    void safeUuidsAreKeptVerbatim(String uuid) {
        assertTrue(EcKeys.isSafeUuid(uuid));
        assertEquals(uuid, EcKeys.requireSafeUuid(uuid));
    }

    @Test
    void longestAllowedUuid() {
        String max = "x".repeat(EcKeys.MAX_UUID_LENGTH);
        assertEquals(max, EcKeys.requireSafeUuid(max));
    }

    static Stream<String> unsafeUuids() {
        return Stream.of(
                "",
                ".",
                "..",
                "../x",
                "x/..",
                "a/b",
                "/abs",
                "a\\b",
                "a..b",
                "...",
                "a\0b",
                "x".repeat(256),
                "x".repeat(300),
                "café",
                "图像",
                "emoji-\uD83D\uDE00",
                "%2e%2e",
                "%2e%2e%2fx",
                "a b",
                "a:b",
                "tab\t",
                "new\nline",
                "C:",
                "~user");
    }

    @ParameterizedTest
    @MethodSource("unsafeUuids")
    void unsafeUuidsAreRefusedWithAReason(String uuid) {
        assertFalse(EcKeys.isSafeUuid(uuid));
        InvalidEcKeyException e = assertThrows(InvalidEcKeyException.class, () -> EcKeys.requireSafeUuid(uuid));
        assertEquals(uuid, e.uuid());
        assertTrue(e.getMessage().startsWith("invalid multimodal uuid "), e.getMessage());
        // The message stays one printable line whatever the client sent.
        assertTrue(e.getMessage().chars().allMatch(c -> c >= 0x20 && c < 0x7F || c == '…'), e.getMessage());
        assertTrue(e.getMessage().length() < 200, e.getMessage());
    }

    @Test
    void nullUuidIsRefusedByRequireSafeUuid() {
        assertFalse(EcKeys.isSafeUuid(null));
        assertThrows(InvalidEcKeyException.class, () -> EcKeys.requireSafeUuid(null));
    }

    @Test
    void reasonsNameTheProblem() {
        assertEquals("it is empty", EcKeys.unsafeReason(""));
        assertEquals("it names the current or parent directory", EcKeys.unsafeReason(".."));
        assertEquals("it contains \"..\"", EcKeys.unsafeReason("a..b"));
        assertEquals("character '/' at index 2 is not one of [A-Za-z0-9._-]", EcKeys.unsafeReason("..//x"));
        assertEquals("character '%' at index 0 is not one of [A-Za-z0-9._-]", EcKeys.unsafeReason("%2e%2e"));
        assertEquals("character U+00E9 at index 3 is not one of [A-Za-z0-9._-]", EcKeys.unsafeReason("café"));
        assertEquals("it has 300 characters, at most 255 are allowed", EcKeys.unsafeReason("x".repeat(300)));
    }

    @Test
    void forItemUsesTheUuidOnlyWithoutKwargs() {
        byte[] image = "not really a png".getBytes(StandardCharsets.US_ASCII);
        String model = "Qwen/Qwen2.5-VL-3B-Instruct";
        String hash = MmHasher.DEFAULT.key(model, image);

        assertEquals("sku-1", EcKeys.forItem("sku-1", false, model, image));
        assertEquals("sku-1", EcKeys.forItem("sku-1", false, model, null)); // media may be omitted with a uuid
        assertEquals(hash, EcKeys.forItem("sku-1", true, model, image));
        assertEquals(hash, EcKeys.forItem(null, false, model, image));
        assertEquals(hash, EcKeys.forItem(null, true, model, image));

        MmHasher sha = new MmHasher(MmHasher.Algorithm.SHA256, MmHasher.Format.FRAMED);
        assertEquals(sha.key(model, image), EcKeys.forItem(sha, null, false, model, image));
    }

    @Test
    void truncationErasHashTheUuidInsteadOfUsingIt() {
        String model = "Qwen/Qwen2.5-VL-3B-Instruct";
        byte[] image = "not really a png".getBytes(StandardCharsets.US_ASCII);
        for (MmHasher.Format f :
                new MmHasher.Format[] {MmHasher.Format.UNFRAMED_TRUNCATION, MmHasher.Format.SORTED_TRUNCATION}) {
            MmHasher h = new MmHasher(MmHasher.Algorithm.SHA256, f);
            assertEquals(h.uuidKey(model, "sku-1"), EcKeys.forItem(h, "sku-1", false, model, image));
            assertEquals(h.uuidKey(model, "sku-1"), EcKeys.forItem(h, "sku-1", true, model, null));
            assertEquals(h.key(model, image), EcKeys.forItem(h, null, false, model, image));
            assertThrows(InvalidEcKeyException.class, () -> EcKeys.forItem(h, "../x", false, model, image));
        }
        MmHasher sorted = new MmHasher(MmHasher.Algorithm.SHA256, MmHasher.Format.UNFRAMED_SORTED);
        assertEquals("sku-1", EcKeys.forItem(sorted, "sku-1", false, model, image));
    }

    @Test
    void forItemValidatesAPresentUuidEvenWhenItHashes() {
        assertThrows(InvalidEcKeyException.class, () -> EcKeys.forItem("../etc", false, "m", new byte[1]));
        assertThrows(InvalidEcKeyException.class, () -> EcKeys.forItem("../etc", true, "m", new byte[1]));
        assertThrows(IllegalArgumentException.class, () -> EcKeys.forItem(null, false, "m", null));
    }

    @Test
    void hashKeysAreSafeDirectoryNames() {
        for (MmHasher.Algorithm a : MmHasher.Algorithm.values()) {
            String key = new MmHasher(a, MmHasher.Format.UNFRAMED).key("m", new byte[] {1, 2, 3});
            assertTrue(EcKeys.isSafeUuid(key), key);
        }
    }
}
