package dev.jepd.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LocalClusterTopologyTest {
    @Test
    void namedTopologiesParse() {
        LocalCluster.Topology epd = LocalCluster.Topology.parse("1e1pd");
        assertEquals(new LocalCluster.Topology(1, 0, 1), epd);
        assertFalse(epd.disaggregatedPrefill());
        assertEquals(new LocalCluster.Topology(1, 1, 1), LocalCluster.Topology.parse("1e1p1d"));
        LocalCluster.Topology big = LocalCluster.Topology.parse("2E2P2D");
        assertEquals(new LocalCluster.Topology(2, 2, 2), big);
        assertTrue(big.disaggregatedPrefill());
        assertEquals("2e2p2d", big.toString());
        assertEquals("1e1pd", epd.toString());
    }

    @Test
    void badTopologiesSayTheForm() {
        for (String bad : new String[] {"1p1d", "1e", "e1pd", "1e0pd", "0e1pd", "1e1p0d", "1e1p1d1x"}) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> LocalCluster.Topology.parse(bad));
            assertTrue(e.getMessage().contains("1e1pd") || e.getMessage().contains("needs"), bad + ": " + e);
        }
    }
}
