package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Failover, dedup and membership against stub nodes: encoders retried elsewhere and, when none is left, the item
 * left to the decode node; decode retried before its first byte; duplicate images sharing one encoder call;
 * health checks evicting and re-admitting; {@code /instances} and {@code --config} changing the clusters.
 */
class ProxyFailoverTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final String IMAGE = """
            {"model":"m","messages":[{"role":"user","content":[
              {"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}},
              {"type":"text","text":"hi"}]}],"max_tokens":4%s}""";
    private static final String TEXT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @RegisterExtension
    final TestResources open = new TestResources();

    @TempDir
    Path tmp;

    private static String image(String b64, boolean stream) {
        return IMAGE.formatted(b64, stream ? ",\"stream\":true" : "");
    }

    private static String deadUrl() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return "http://127.0.0.1:" + s.getLocalPort();
        }
    }

    private ProxyHarness proxy(List<String> e, List<String> p, List<String> d, ProxyConfig.Resilience r) {
        return open.proxy(new ProxyConfig(
                "127.0.0.1",
                0,
                e.stream().map(u -> Node.parse("encode", u)).toList(),
                p.stream().map(u -> Node.parse("prefill", u)).toList(),
                d.stream().map(u -> Node.parse("decode", u)).toList(),
                Routing.ROUND_ROBIN,
                Duration.ofSeconds(20),
                Duration.ofSeconds(2),
                ProxyConfig.DEFAULT_MAX_BODY_BYTES,
                dev.jepd.media.ModelFamily.DEFAULT,
                r, // at construction: with --config FILE the decode list may start empty
                dev.jepd.api.MediaLimits.NONE,
                ProxyConfig.ServerLimits.DEFAULT,
                dev.jepd.media.MediaConfig.defaults()));
    }

    @Test
    void aDeadEncoderAmongTwoCostsNoRequestAndIsEvicted() throws Exception {
        StubNode good = open.stub();
        StubNode d = open.stub();
        String dead = deadUrl();
        ProxyHarness proxy = proxy(List.of(dead, good.url()), List.of(), List.of(d.url()), ProxyHarness.QUIET);

        List<CompletableFuture<Integer>> all = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            String body = image("AAAA" + i, i % 2 == 0);
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return proxy.post(CHAT, body).statusCode();
                } catch (Exception ex) {
                    throw new RuntimeException(ex);
                }
            }));
        }
        for (var f : all) {
            assertEquals(200, f.get(30, TimeUnit.SECONDS));
        }
        assertEquals(24, good.received(CHAT).size(), "every image ended on the live encoder");
        JsonNode instances = ProxyHarness.json(proxy.get("/instances"));
        assertFalse(instances.at("/encode/0/routable").asBoolean(), instances.toString());
        assertTrue(instances.at("/encode/1/routable").asBoolean(), instances.toString());
    }

    @Test
    void anEncoders507IsAMissAtOnceNotRetriedOnTheOtherEncoders() throws Exception {
        String storeError = "{\"error\":{\"message\":\"cannot write the EC entry\",\"type\":\"ECStoreError\","
                + "\"param\":null,\"code\":507}}";
        StubNode full1 = open.stub().on(CHAT, (r, ex) -> StubNode.respond(ex, 507, "application/json", storeError));
        StubNode full2 = open.stub().on(CHAT, (r, ex) -> StubNode.respond(ex, 507, "application/json", storeError));
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(full1.url(), full2.url()), List.of(), List.of(d.url()), ProxyHarness.QUIET);

        for (int i = 0; i < 4; i++) {
            assertEquals(200, proxy.post(CHAT, image("FULL" + i, false)).statusCode());
        }
        assertEquals(4, full1.received(CHAT).size() + full2.received(CHAT).size(), "one encoder call per item");
        assertEquals(4, d.received(CHAT).size(), "each request went on to the PD node");
        JsonNode instances = ProxyHarness.json(proxy.get("/instances"));
        assertEquals(4, instances.at("/counters/left_to_pd").asLong(), instances.toString());
        assertTrue(instances.at("/encode/0/routable").asBoolean(), "a 507 does not evict: " + instances);
        assertTrue(instances.at("/encode/1/routable").asBoolean(), instances.toString());
    }

    @Test
    void concurrentRequestsWithTheSameImageShareOneEncoderCall() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        StubNode e = open.stub().on(CHAT, (r, ex) -> {
            release.await(10, TimeUnit.SECONDS);
            StubNode.respond(ex, 200, "application/json", StubNode.chatCompletion(""));
        });
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(
                List.of(e.url()),
                List.of(),
                List.of(d.url()),
                new ProxyConfig.Resilience(Duration.ofHours(1), 2, Duration.ofSeconds(30), null, null));

        List<CompletableFuture<Integer>> all = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return proxy.post(CHAT, image("SAME", false)).statusCode();
                } catch (Exception ex) {
                    throw new RuntimeException(ex);
                }
            }));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (ProxyHarness.json(proxy.get("/instances"))
                                .at("/counters/dedup_shared")
                                .asLong()
                        < 15
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        release.countDown();
        for (var f : all) {
            assertEquals(200, f.get(30, TimeUnit.SECONDS));
        }
        assertEquals(1, e.received(CHAT).size(), "one encoder call for 16 requests");
        assertEquals(16, d.received(CHAT).size());
        assertEquals(200, proxy.post(CHAT, image("SAME", false)).statusCode());
        assertEquals(1, e.received(CHAT).size(), "a repeat within the window is not encoded again");
        assertEquals(200, proxy.post(CHAT, image("OTHER", false)).statusCode());
        assertEquals(2, e.received(CHAT).size(), "another image is");
    }

    @Test
    void aDecodeNodeThatFailsBeforeItsFirstByteIsReplacedByAnother() throws Exception {
        // One node refuses, one answers 200 and closes before any byte of the stream: neither reaches the client.
        AtomicBoolean brokeOnce = new AtomicBoolean();
        StubNode broken = open.stub().on(CHAT, (r, ex) -> {
            brokeOnce.set(true);
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            ex.getHttpContext().getServer(); // no body at all: the exchange is closed by the stub
            throw new java.io.IOException("dies");
        });
        StubNode good = open.stub()
                .on(
                        CHAT,
                        (r, ex) -> StubNode.stream(
                                ex,
                                List.of(
                                        "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n"
                                                .getBytes(StandardCharsets.UTF_8),
                                        "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8)),
                                0));
        ProxyHarness proxy =
                proxy(List.of(), List.of(), List.of(deadUrl(), broken.url(), good.url()), ProxyHarness.QUIET);

        for (int i = 0; i < 6; i++) {
            HttpResponse<byte[]> r = proxy.post(CHAT, i % 2 == 0 ? TEXT : TEXT.replace("}]}", "}],\"stream\":true}"));
            assertEquals(200, r.statusCode(), ProxyHarness.text(r));
            assertFalse(ProxyHarness.text(r).contains("error"), ProxyHarness.text(r));
        }
        assertTrue(good.received(CHAT).size() >= 6 - broken.received(CHAT).size());
    }

    @Test
    void aDecodeNodeThatCannotUseThePrefillKvPrefillsItselfOnARetry() throws Exception {
        String kv = "{\"do_remote_prefill\":true,\"remote_block_ids\":[1],\"remote_host\":\"127.0.0.1\"}";
        StubNode p = open.stub()
                .on(
                        CHAT,
                        (r, ex) -> StubNode.respond(
                                ex, 200, "application/json", "{\"choices\":[],\"kv_transfer_params\":" + kv + "}"));
        StubNode d = open.stub().on(CHAT, (r, ex) -> {
            if (r.json().has("kv_transfer_params")) {
                StubNode.respond(
                        ex, 502, "application/json", "{\"error\":{\"message\":\"KV pull failed\",\"code\":502}}");
            } else {
                StubNode.respond(ex, 200, "application/json", StubNode.chatCompletion("local"));
            }
        });
        ProxyHarness proxy = proxy(List.of(), List.of(p.url()), List.of(d.url()), ProxyHarness.QUIET);

        HttpResponse<byte[]> r = proxy.post(CHAT, TEXT);

        assertEquals(200, r.statusCode(), ProxyHarness.text(r));
        assertEquals(2, d.received(CHAT).size());
        assertFalse(d.received(CHAT).get(1).json().has("kv_transfer_params"));
    }

    @Test
    void healthChecksEvictAndReadmitAndInstancesChangeTheClusters() throws Exception {
        AtomicBoolean up = new AtomicBoolean(true);
        StubNode d1 =
                open.stub().on("/health", (r, ex) -> StubNode.respond(ex, up.get() ? 200 : 503, "text/plain", ""));
        StubNode d2 = open.stub();
        ProxyHarness proxy = proxy(
                List.of(),
                List.of(),
                List.of(d1.url()),
                new ProxyConfig.Resilience(Duration.ofMillis(100), 1, Duration.ZERO, null, null));

        up.set(false);
        awaitRoutable(proxy, "decode", 0, false);
        up.set(true);
        awaitRoutable(proxy, "decode", 0, true);

        HttpResponse<byte[]> added = proxy.post(
                "/instances", "{\"type\":\"decode\",\"instance\":\"" + d2.url().substring(7) + "\"}");
        assertEquals(200, added.statusCode(), ProxyHarness.text(added));
        assertEquals(
                400,
                proxy.post("/instances", "{\"type\":\"decode\",\"url\":\"" + d2.url() + "\"}")
                        .statusCode());
        assertEquals(
                400,
                proxy.post("/instances", "{\"type\":\"nope\",\"url\":\"" + d2.url() + "\"}")
                        .statusCode());
        for (int i = 0; i < 4; i++) {
            assertEquals(200, proxy.post(CHAT, TEXT).statusCode());
        }
        assertEquals(2, d2.received(CHAT).size(), "the added node takes its share");

        HttpResponse<byte[]> removed = ProxyHarness.CLIENT.send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create(proxy.url() + "/instances"))
                        .method(
                                "DELETE",
                                java.net.http.HttpRequest.BodyPublishers.ofString(
                                        "{\"type\":\"decode\",\"url\":\"" + d1.url() + "\"}"))
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, removed.statusCode(), ProxyHarness.text(removed));
        int before = d1.received(CHAT).size();
        for (int i = 0; i < 4; i++) {
            assertEquals(200, proxy.post(CHAT, TEXT).statusCode());
        }
        assertEquals(before, d1.received(CHAT).size(), "a removed node gets nothing");
        assertEquals(
                404,
                ProxyHarness.CLIENT
                        .send(
                                java.net.http.HttpRequest.newBuilder(
                                                java.net.URI.create(proxy.url() + "/instances/remove"))
                                        .POST(java.net.http.HttpRequest.BodyPublishers.ofString(
                                                "{\"type\":\"decode\",\"url\":\"" + d1.url() + "\"}"))
                                        .build(),
                                HttpResponse.BodyHandlers.ofByteArray())
                        .statusCode());
    }

    @Test
    void theConfigFileIsReloadedWhenItChanges() throws Exception {
        StubNode d1 = open.stub();
        StubNode d2 = open.stub();
        Path file = tmp.resolve("proxy.json");
        Files.writeString(file, "{\"decode\":[\"" + d1.url() + "\"]}");
        ProxyHarness proxy = proxy(
                List.of(),
                List.of(),
                List.of(),
                new ProxyConfig.Resilience(Duration.ofMillis(100), 2, Duration.ZERO, file, null));
        assertEquals(200, proxy.post(CHAT, TEXT).statusCode());
        assertEquals(1, d1.received(CHAT).size());

        Files.writeString(file, "{\"decode\":\"" + d2.url() + "\", \"encode\": []}");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!ProxyHarness.json(proxy.get("/instances"))
                        .at("/decode/0/url")
                        .asText()
                        .equals(d2.url())
                && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertEquals(200, proxy.post(CHAT, TEXT).statusCode());
        assertEquals(1, d2.received(CHAT).size(), "the reloaded file's node");
        assertEquals(1, d1.received(CHAT).size());

        Files.writeString(file, "{not json");
        Thread.sleep(400);
        assertEquals(200, proxy.post(CHAT, TEXT).statusCode(), "a broken file leaves the nodes as they were");
        assertEquals(2, d2.received(CHAT).size());
    }

    @Test
    void cacheAffinitySendsAnImageBackToTheNodesThatHaveIt() throws Exception {
        StubNode e1 = open.stub();
        StubNode e2 = open.stub();
        StubNode d1 = open.stub();
        StubNode d2 = open.stub();
        ProxyHarness proxy = open.proxy(new ProxyConfig(
                        "127.0.0.1",
                        0,
                        List.of(Node.parse("encode", e1.url()), Node.parse("encode", e2.url())),
                        List.of(),
                        List.of(Node.parse("decode", d1.url()), Node.parse("decode", d2.url())),
                        Routing.CACHE_AFFINITY,
                        Duration.ofSeconds(20),
                        Duration.ofSeconds(2),
                        ProxyConfig.DEFAULT_MAX_BODY_BYTES)
                .with(ProxyHarness.QUIET));
        for (int round = 0; round < 3; round++) {
            for (String img : List.of("AAAA", "BBBB", "CCCC", "DDDD")) {
                assertEquals(200, proxy.post(CHAT, image(img, false)).statusCode());
            }
        }
        for (StubNode n : List.of(e1, e2, d1, d2)) {
            java.util.Map<String, Long> perImage = new java.util.HashMap<>();
            for (var r : n.received(CHAT)) {
                String url = r.json().at("/messages/0/content/0/image_url/url").asText();
                perImage.merge(url, 1L, Long::sum);
            }
            for (long count : perImage.values()) {
                assertEquals(3, count, "every image goes back to the same node each round: " + perImage);
            }
        }
        assertEquals(12, e1.received(CHAT).size() + e2.received(CHAT).size());
    }

    private static void awaitRoutable(ProxyHarness proxy, String cluster, int i, boolean routable) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (ProxyHarness.json(proxy.get("/instances"))
                            .at("/" + cluster + "/" + i + "/routable")
                            .asBoolean()
                    == routable) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError(cluster + "[" + i + "] never became routable=" + routable);
    }
}
