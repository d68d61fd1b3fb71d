package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Faults at real node processes (the shared E+PD cluster): an EC write the store refuses is a 507 ECStoreError
 * from the encoder, which leaves nothing behind, and the PD node then treats the item as a miss and encodes it
 * itself; hostile bytes on the socket (not HTTP, a 1 MB header, 2,000 headers) get OpenAI error JSON; an odd
 * X-Request-Id never reaches the completion id.
 */
class NodeFaultsTest {
    static SharedCluster cluster;

    @BeforeAll
    static void start() throws Exception {
        cluster = SharedCluster.get();
    }

    static ObjectNode withUuid(ObjectNode body, String uuid) {
        ((ObjectNode) body.at("/messages/0/content/0")).put("uuid", uuid);
        return body;
    }

    @Test
    void aRefusedEcWriteIsA507ThatThePdNodeTreatsAsAMiss() throws Exception {
        String image = SharedCluster.image("img_112x84");
        String uuid = "blocked-" + UUID.randomUUID();
        Path blocker = cluster.ec().resolve(uuid);
        Files.writeString(blocker, "a file where the entry's directory must go");
        double failures = Http.metric(cluster.encoder().url(), "jepd:ec_save_failures_total");
        Http.Response e = Http.post(
                cluster.encoder().url() + "/v1/chat/completions",
                withUuid(Requests.encoderRequest("tiny", image), uuid).toString());
        assertEquals(507, e.status(), e.body());
        assertEquals("ECStoreError", e.json().at("/error/type").asText(), e.body());
        assertFalse(e.body().contains(cluster.ec().toString()), "no server path in the answer: " + e.body());
        assertEquals(failures + 1, Http.metric(cluster.encoder().url(), "jepd:ec_save_failures_total"));
        try (Stream<Path> s = Files.list(cluster.ec())) {
            List<Path> tmp =
                    s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
            assertEquals(List.of(), tmp, "temporary files left in the EC root");
        }
        assertTrue(Files.isRegularFile(blocker));

        double misses = Http.metric(cluster.pd().url(), "jepd:ec_misses_total");
        Http.Response pd = Http.post(
                cluster.pd().url() + "/v1/chat/completions",
                withUuid(Requests.chat("tiny", image, "Describe this image.", 16, false), uuid)
                        .toString());
        assertEquals(200, pd.status(), pd.body());
        assertEquals(misses + 1, Http.metric(cluster.pd().url(), "jepd:ec_misses_total"));
        assertFalse(pd.json().at("/choices/0/message/content").asText().isEmpty());
    }

    /** Raw bytes to a node; its whole answer (it closes, or one JSON answer arrived). */
    static String raw(NodeProcess node, byte[] request) throws IOException {
        try (Socket s = new Socket("127.0.0.1", node.port())) {
            s.setSoTimeout(30_000);
            try {
                s.getOutputStream().write(request);
            } catch (IOException e) {
                // closed before everything was read: its answer is still there
            }
            InputStream in = s.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            try {
                for (int n; (n = in.read(buf)) > 0; ) {
                    got.write(buf, 0, n);
                    if (got.toString(StandardCharsets.ISO_8859_1).matches("(?s).*\\r\\n\\r\\n\\{.*}$")) {
                        break;
                    }
                }
            } catch (IOException e) {
                // reset after the answer
            }
            return got.toString(StandardCharsets.UTF_8);
        }
    }

    static void assertJsonError(String response, int status, String what) throws IOException {
        assertTrue(
                response.startsWith("HTTP/1.1 " + status),
                what + ": " + response.lines().findFirst().orElse(""));
        JsonNode error = Http.JSON
                .readTree(response.substring(response.indexOf("\r\n\r\n") + 4))
                .path("error");
        assertEquals(status, error.path("code").asInt(), what);
        assertFalse(error.path("message").asText().isBlank(), what);
    }

    @Test
    void hostileBytesGetOpenAiJsonFromBothNodes() throws IOException {
        StringBuilder many = new StringBuilder("GET /health HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 2000; i++) {
            many.append("X-H").append(i).append(": v\r\n");
        }
        byte[][] cases = {
            "NOT HTTP AT ALL\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1),
            ("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(1 << 20) + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1),
            many.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1),
        };
        for (NodeProcess node : List.of(cluster.pd(), cluster.encoder())) {
            for (int i = 0; i < cases.length; i++) {
                assertJsonError(raw(node, cases[i]), 400, node.name() + " case " + i);
            }
            String notJson = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
            assertJsonError(
                    raw(
                            node,
                            ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                            + "Content-Type: text/plain\r\nContent-Length: " + notJson.length()
                                            + "\r\n\r\n" + notJson)
                                    .getBytes(StandardCharsets.ISO_8859_1)),
                    415,
                    node.name() + " text/plain");
            assertTrue(node.alive());
        }
    }

    @Test
    void anOddRequestIdNeverReachesTheCompletionId() throws Exception {
        for (String id : new String[] {"../../etc/x", "x".repeat(5000)}) {
            Http.Response r = Http.post(
                    cluster.pd().url() + "/v1/chat/completions",
                    Requests.chat("tiny", null, "hi", 2, false).toString(),
                    "X-Request-Id",
                    id);
            assertEquals(200, r.status(), r.body());
            String completionId = r.json().path("id").asText();
            assertFalse(completionId.contains(id), completionId);
            assertTrue(completionId.matches("chatcmpl-[A-Za-z0-9._:-]{1,200}"), completionId);
        }
        Http.Response ok = Http.post(
                cluster.pd().url() + "/v1/chat/completions",
                Requests.chat("tiny", null, "hi", 2, false).toString(),
                "X-Request-Id",
                "client-42");
        assertEquals("chatcmpl-client-42", ok.json().path("id").asText());
    }
}
