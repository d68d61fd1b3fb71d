package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.media.ImageDimensions;
import dev.jepd.media.ImageSize;
import dev.jepd.media.PreprocessorConfig;
import dev.jepd.media.QwenImageProcessor;
import dev.jepd.proxy.items.ImageCost;
import dev.jepd.proxy.items.MediaItem;
import dev.jepd.proxy.items.Modality;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Lease;
import dev.jepd.proxy.upstream.Member;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round-robin and least-loaded routing, and the image cost that least-loaded routing reads from headers. */
class ProxyRoutingTest {
    private static final List<Node> THREE = List.of(
            new Node("encode", "http://a:1"), new Node("encode", "http://b:1"), new Node("encode", "http://c:1"));

    @RegisterExtension
    final TestResources open = new TestResources();

    @Test
    void roundRobinSpreadsConcurrentRequestsEvenly() {
        Cluster router = Cluster.of("encode", THREE, Routing.ROUND_ROBIN);
        Map<String, AtomicInteger> counts = new ConcurrentHashMap<>();
        IntStream.range(0, 3000).parallel().forEach(i -> {
            try (Lease lease = router.acquire(1, Set.of())) {
                counts.computeIfAbsent(lease.node().url(), k -> new AtomicInteger())
                        .incrementAndGet();
            }
        });
        for (Node n : THREE) {
            assertEquals(1000, counts.get(n.url()).get());
        }
    }

    @Test
    void leastLoadedPicksTheNodeWithTheLeastCostInFlight() {
        Cluster router = Cluster.of("encode", THREE, Routing.LEAST_LOADED);
        Lease big = router.acquire(1280, Set.of());
        Lease mid = router.acquire(300, Set.of());
        Lease small = router.acquire(64, Set.of());
        assertEquals(List.of("http://a:1", "http://b:1", "http://c:1"), urls(big, mid, small), "idle nodes rotate");

        assertEquals("http://c:1", router.acquire(100, Set.of()).node().url(), "c carries 64");
        assertArrayEquals(new long[] {1280, 300, 164}, inFlight(router));
        big.close();
        big.close(); // twice is harmless
        assertEquals("http://a:1", router.acquire(10, Set.of()).node().url(), "a is free again");
        assertArrayEquals(new long[] {10, 300, 164}, inFlight(router));
    }

    @Test
    void evictedAndTriedNodesAreSkippedAndMembershipChangesAtRunTime() {
        Cluster cluster = Cluster.of("decode", THREE, Routing.ROUND_ROBIN);
        cluster.find("http://b:1").evict("refused");
        Set<String> seen = new java.util.HashSet<>();
        for (int i = 0; i < 10; i++) {
            try (Lease l = cluster.acquire(1, Set.of())) {
                seen.add(l.node().url());
            }
        }
        assertEquals(Set.of("http://a:1", "http://c:1"), seen, "an evicted node gets nothing");
        Set<Node> tried = Set.of(THREE.get(0), THREE.get(2));
        assertEquals(null, cluster.acquire(1, tried), "no healthy node left untried");
        assertEquals("http://b:1", cluster.acquireAny(1, tried).node().url(), "but an evicted one beats failing");

        assertTrue(cluster.add(new Node("decode", "http://d:1")));
        assertFalse(cluster.add(new Node("decode", "http://d:1/")), "already a member");
        assertTrue(cluster.remove("http://a:1"));
        assertFalse(cluster.remove("http://a:1"));
        assertEquals(
                List.of("http://b:1", "http://c:1", "http://d:1"),
                cluster.nodes().stream().map(Node::url).toList());
    }

    private static long[] inFlight(Cluster c) {
        return c.members().stream().mapToLong(Member::inFlight).toArray();
    }

    private static List<String> urls(Lease... leases) {
        return List.of(leases).stream().map(l -> l.node().url()).toList();
    }

    @Test
    void headersGiveTheSizeOfEveryFormatWithoutDecoding() {
        for (String format : List.of("png", "jpeg", "gif", "bmp")) {
            byte[] file = TestImages.encode(format, 123, 45);
            assertEquals(Optional.of(new ImageSize(45, 123)), ImageDimensions.read(file), format);
            // the header alone is enough
            byte[] head = java.util.Arrays.copyOf(file, Math.min(file.length, 700));
            assertEquals(Optional.of(new ImageSize(45, 123)), ImageDimensions.read(head), format + " prefix");
        }
        assertEquals(Optional.of(new ImageSize(200, 300)), ImageDimensions.read(webpVp8x(300, 200)));
        assertEquals(Optional.empty(), ImageDimensions.read(new byte[] {1, 2, 3}));
        assertEquals(
                Optional.empty(), ImageDimensions.read(java.util.Arrays.copyOf(TestImages.encode("png", 9, 9), 20)));
    }

    private static byte[] webpVp8x(int w, int h) {
        byte[] b = new byte[30];
        System.arraycopy("RIFF".getBytes(), 0, b, 0, 4);
        System.arraycopy("WEBPVP8X".getBytes(), 0, b, 8, 8);
        int wm = w - 1;
        int hm = h - 1;
        b[24] = (byte) wm;
        b[25] = (byte) (wm >> 8);
        b[26] = (byte) (wm >> 16);
        b[27] = (byte) hm;
        b[28] = (byte) (hm >> 8);
        b[29] = (byte) (hm >> 16);
        return b;
    }

    @Test
    void anImageCostsTheTokensTheEncoderWillProduce() {
        ImageCost cost = ImageCost.of(dev.jepd.media.ModelFamily.QWEN2_5_VL);
        QwenImageProcessor qwen = new QwenImageProcessor(PreprocessorConfig.defaults());
        String url = TestImages.dataUrl("jpeg", 640, 480);
        long expected = qwen.grid(480, 640).numTokens();
        assertEquals(expected, cost.tokens(item(url)));
        assertEquals(1280, cost.unknownCost(), "max_pixels / 28² for the Qwen defaults");
        assertEquals(1280, cost.tokens(item("https://example.com/x.png")), "a remote image is not fetched");
        assertEquals(1280, cost.tokens(item("data:image/png;base64,!!!!")));
        assertEquals(17 * 23, expected, "640x480 resizes to 644x476 in 28-pixel tokens");
    }

    @Test
    void qwen3VlCostsOneTokenPer32By32Pixels() {
        ImageCost cost = ImageCost.of(dev.jepd.media.ModelFamily.QWEN3_VL);
        assertEquals(20 * 15, cost.tokens(item(TestImages.dataUrl("jpeg", 640, 480))), "640x480 is 20x15 tokens");
        assertEquals(4096L * 4096 / (32 * 32), cost.unknownCost(), "max_pixels / 32²");
    }

    private static MediaItem item(String url) {
        return new MediaItem(StubNode.JSON.createObjectNode(), Modality.IMAGE, url, "messages[0].content[0]");
    }

    @Test
    void routingNamesParse() {
        assertEquals(Routing.LEAST_LOADED, Routing.parse("least-loaded"));
        assertEquals(Routing.ROUND_ROBIN, Routing.parse("round-robin"));
        assertThrows(IllegalArgumentException.class, () -> Routing.parse("random"));
    }

    /**
     * One big and two small images, held by the encoders until all three arrived: round-robin would put
     * two on the first encoder, least-loaded puts the big one alone.
     */
    @Test
    void leastLoadedSendsSmallImagesAwayFromTheEncoderBusyWithABigOne() throws Exception {
        CountDownLatch allArrived = new CountDownLatch(3);
        List<StubNode> encoders = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            StubNode e = open.stub();
            e.on("/v1/chat/completions", (r, ex) -> {
                allArrived.countDown();
                allArrived.await(10, TimeUnit.SECONDS);
                StubNode.respond(ex, 200, "application/json", StubNode.chatCompletion("x"));
            });
            encoders.add(e);
        }
        StubNode d = open.stub();
        ProxyHarness proxy = new ProxyHarness(
                ProxyHarness.config(encoders, List.of(), List.of(d), Routing.LEAST_LOADED, Duration.ofSeconds(30)));
        open.add(proxy);
        String big = TestImages.dataUrl("png", 1400, 1000);
        String small1 = TestImages.dataUrl("png", 60, 60);
        String small2 = TestImages.dataUrl("png", 50, 70);
        String body = """
                {"model":"m","messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"%s"}},
                  {"type":"image_url","image_url":{"url":"%s"}},
                  {"type":"image_url","image_url":{"url":"%s"}}]}]}""".formatted(big, small1, small2);

        assertEquals(200, proxy.post("/v1/chat/completions", body).statusCode());

        assertEquals(1, encoders.get(0).received.size(), "the big image alone");
        assertEquals(2, encoders.get(1).received.size(), "both small ones");
        String first = encoders.get(0)
                .received
                .getFirst()
                .json()
                .at("/messages/0/content/0/image_url/url")
                .asText();
        assertEquals(big, first);
    }
}
