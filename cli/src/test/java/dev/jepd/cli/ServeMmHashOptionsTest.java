package dev.jepd.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.transfer.ec.EcTransferConfig;
import dev.jepd.transfer.ec.MmHasher;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class ServeMmHashOptionsTest {
    private static final EcTransferConfig EC =
            EcTransferConfig.parse("{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"ec_consumer\","
                    + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"/tmp/ec\"}}");

    private static ServeCommand parse(String... args) {
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd).parseArgs(args);
        return cmd;
    }

    @Test
    void formatFromFlagOrVllmDate() {
        assertEquals(MmHasher.DEFAULT, parse("m").mmHasher(EC));
        assertEquals(
                new MmHasher(MmHasher.Algorithm.SHA256, MmHasher.Format.SORTED_TRUNCATION),
                parse("m", "--mm-hasher-algorithm", "sha256", "--mm-hash-format", "sorted-truncation")
                        .mmHasher(EC));
        assertEquals(
                MmHasher.Format.UNFRAMED_SORTED,
                parse("m", "--vllm-compat", "2026-03-01").mmHasher(EC).format());
        assertEquals(
                MmHasher.Format.FRAMED,
                parse("m", "--vllm-compat", "2026-03-01", "--mm-hash-format", "framed")
                        .mmHasher(EC)
                        .format());
        assertThrows(IllegalArgumentException.class, () -> parse("m", "--vllm-compat", "v0.16")
                .mmHasher(EC));
    }

    @Test
    void vllmCompatTakesAReleaseToo() {
        assertEquals(
                MmHasher.Format.FRAMED,
                parse("m", "--vllm-compat", "v0.32.0").mmHasher(EC).format());
        assertEquals(
                MmHasher.Format.FRAMED,
                parse("m", "--vllm-compat", "0.32.0").mmHasher(EC).format());
        IllegalArgumentException unmapped =
                assertThrows(IllegalArgumentException.class, () -> parse("m", "--vllm-compat", "v0.15.1")
                        .mmHasher(EC));
        assertTrue(unmapped.getMessage().startsWith("--vllm-compat v0.15.1: "), unmapped.getMessage());
        assertTrue(unmapped.getMessage().contains("not mapped"), unmapped.getMessage());
        IllegalArgumentException pixels =
                assertThrows(IllegalArgumentException.class, () -> parse("m", "--vllm-compat", "0.12.0")
                        .mmHasher(EC));
        assertTrue(pixels.getMessage().contains("uuid"), pixels.getMessage());
        IllegalArgumentException neither =
                assertThrows(IllegalArgumentException.class, () -> parse("m", "--vllm-compat", "latest")
                        .mmHasher(EC));
        assertTrue(neither.getMessage().contains("YYYY-MM-DD or a release vX.Y.Z"), neither.getMessage());
        // --mm-hash-format still wins over a release that is not mapped.
        assertEquals(
                MmHasher.Format.UNFRAMED_SORTED,
                parse("m", "--vllm-compat", "v0.15.1", "--mm-hash-format", "sorted")
                        .mmHasher(EC)
                        .format());
    }

    @Test
    void noProcessorCacheAndNoPrefixCachingIsRefusedWithAnEcRole() {
        ServeCommand both = parse("m", "--mm-processor-cache-gb", "0", "--no-enable-prefix-caching");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> both.mmHasher(EC));
        assertTrue(e.getMessage().contains("request id"), e.getMessage());
        assertEquals(MmHasher.DEFAULT, both.mmHasher(null)); // no EC role: nothing to share, accepted
        assertEquals(
                MmHasher.DEFAULT, parse("m", "--mm-processor-cache-gb", "0").mmHasher(EC));
        assertEquals(MmHasher.DEFAULT, parse("m", "--no-enable-prefix-caching").mmHasher(EC));
    }
}
