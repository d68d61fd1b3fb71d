package dev.jepd.transfer.ec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.engine.safetensors.DType;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Over shared storage the key alone finds an entry: publish answers none(), lookup ignores what it is given. */
class SharedStorageEcTransferParamsTest {
    @TempDir
    Path root;

    @Test
    void publishAnswersNoneAndLookupFindsTheEntryWhateverTheParams() {
        SharedStorageEcConnector encoder = new SharedStorageEcConnector(root, DType.F32, OptionalLong.empty());
        SharedStorageEcConnector consumer = new SharedStorageEcConnector(root, DType.F32, OptionalLong.empty());
        float[] rows = {1, 2, 3, 4, 5, 6}; // [3, 2]

        EcTransferParams params = encoder.publish("item-1", rows, 3, 2);
        assertTrue(params.isNone());
        assertEquals(1, encoder.saves());

        Optional<EcEntry> got = consumer.lookup("item-1", params, 3, 2);
        assertArrayEquals(rows, got.orElseThrow().rows());
        // A peer named in the params is not where shared storage looks.
        assertArrayEquals(
                rows,
                consumer.lookup("item-1", new EcTransferParams("e", "h", 1), 3, 2)
                        .orElseThrow()
                        .rows());
        assertTrue(consumer.lookup("absent", params, 3, 2).isEmpty());
        assertEquals(2, consumer.hits());
        assertEquals(1, consumer.misses());
    }
}
