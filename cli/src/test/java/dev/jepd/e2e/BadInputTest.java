package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The bad-input table: every malformed request gets the right status and an OpenAI error body, and leaves
 * nothing behind (no EC files, no KV blocks, no running requests). Uses the nodes of {@link EpdNodesTest}.
 */
class BadInputTest {
    record Case(String what, NodeProcess node, String body, int status, String[] headers) {}

    static String chat(String url) {
        return Requests.chat("tiny", url, "hi", 4, false).toString();
    }

    static String withUuid(String url, String uuid) {
        ObjectNode b = Requests.chat("tiny", url, "hi", 4, false);
        ((ObjectNode) b.at("/messages/0/content/0")).put("uuid", uuid);
        return b.toString();
    }

    @Test
    void everyBadInputIsAClearErrorAndLeavesNothingBehind() throws Exception {
        EpdNodesTest.start();
        run();
    }

    private void run() throws Exception {
        NodeProcess pd = EpdNodesTest.pd;
        NodeProcess enc = EpdNodesTest.encoder;
        String[] auth = {};
        String[] none = {};
        Path images = EpdNodesTest.GOLDEN.resolve("images");
        String good = "file://" + images.resolve("img_112x84.png");
        String big = "data:image/png;base64," + Base64.getEncoder().encodeToString(new byte[150_000]);
        String badB64 = "data:image/png;base64,@@not-base64@@";
        ObjectNode tooLong = Requests.chat("tiny", null, "hi", 5000, false);
        List<Case> cases = List.of(
                new Case("malformed JSON", pd, "{\"model\": \"tiny\", \"messages\": [", 400, auth),
                new Case("not an object", pd, "[1,2]", 400, auth),
                new Case("empty body", pd, "", 400, auth),
                new Case("no messages", pd, "{\"model\":\"tiny\"}", 400, auth),
                new Case(
                        "unknown model",
                        pd,
                        Requests.chat("gpt-9", null, "hi", 4, false).toString(),
                        404,
                        auth),
                new Case("image URL aimed at loopback", pd, chat("http://127.0.0.1:1/x.png"), 403, auth),
                new Case("file:// outside the allowed path", pd, chat("file:///etc/passwd"), 403, auth),
                new Case(
                        "file:// with .. traversal",
                        pd,
                        chat("file://" + images + "/../cases/img_112x84.json"),
                        403,
                        auth),
                new Case("bad base64", pd, chat(badB64), 400, auth),
                new Case(
                        "not an image",
                        pd,
                        chat("data:image/png;base64," + Base64.getEncoder().encodeToString("hello".getBytes())),
                        400,
                        auth),
                new Case("uuid with a slash", pd, withUuid(good, "a/b"), 400, auth),
                new Case("uuid ..", pd, withUuid(good, ".."), 400, auth),
                new Case("image over the size limit", pd, chat(big), 413, auth),
                new Case("max_tokens beyond --max-model-len", pd, tooLong.toString(), 400, auth),
                new Case(
                        "negative max_tokens",
                        pd,
                        Requests.chat("tiny", null, "hi", -1, false).toString(),
                        400,
                        auth),
                new Case(
                        "temperature out of range",
                        pd,
                        Requests.chat("tiny", null, "hi", 4, false)
                                .put("temperature", -1)
                                .toString(),
                        400,
                        auth),
                new Case("encoder: uuid with ..", enc, withUuid(good, "../../escape"), 400, none),
                new Case("encoder: file:// outside", enc, chat("file:///etc/hostname"), 403, none),
                new Case("encoder: malformed JSON", enc, "{", 400, none));
        List<String> ecBefore = listing(EpdNodesTest.ec);
        for (Case c : cases) {
            Http.Response r = Http.post(c.node().url() + "/v1/chat/completions", c.body(), c.headers());
            assertEquals(c.status(), r.status(), c.what() + ": " + r.body());
            JsonNode err = r.json().path("error");
            assertFalse(err.path("message").asText().isBlank(), c.what() + ": " + r.body());
            assertFalse(err.path("type").asText().isBlank(), c.what());
            assertEquals(c.status(), err.path("code").asInt(), c.what());
            assertFalse(r.body().contains("\tat ") || r.body().contains("Exception:"), "no stack trace: " + r.body());
        }
        assertEquals(
                "max_tokens",
                Http.post(pd.url() + "/v1/chat/completions", tooLong.toString(), auth)
                        .json()
                        .at("/error/param")
                        .asText());
        assertEquals(ecBefore, listing(EpdNodesTest.ec), "no EC file or directory left behind");
        assertFalse(Files.exists(EpdNodesTest.ec.resolve("escape")));
        assertEquals(0.0, Http.metric(pd.url(), "vllm:num_requests_running"));
        assertEquals(0.0, Http.metric(pd.url(), "vllm:kv_cache_usage_perc"));
        // The nodes still serve.
        assertEquals(
                200,
                Http.post(pd.url() + "/v1/chat/completions", chat(good), auth).status());
        assertTrue(pd.alive() && enc.alive());
    }

    static List<String> listing(Path dir) throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }
}
