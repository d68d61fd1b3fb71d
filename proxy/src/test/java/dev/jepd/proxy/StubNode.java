package dev.jepd.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real HTTP server on a loopback port standing in for an encoder, prefill or decode node (vLLM's or
 * JEPD's): it records every request it receives and answers with a per-path {@link Handler}. By default
 * {@code /health} is 200 and {@code /v1/chat/completions} a one-token chat completion.
 */
final class StubNode implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Orders requests across all stubs of a test (E before P before D). */
    private static final AtomicLong CLOCK = new AtomicLong();

    record Received(String method, String path, Map<String, List<String>> headers, byte[] body, long seq) {
        String header(String name) {
            for (var e : headers.entrySet()) {
                if (e.getKey().equalsIgnoreCase(name)) {
                    return e.getValue().getFirst();
                }
            }
            return null;
        }

        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON: " + new String(body, StandardCharsets.UTF_8), e);
            }
        }
    }

    @FunctionalInterface
    interface Handler {
        void handle(Received request, HttpExchange exchange) throws Exception;
    }

    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final Map<String, Handler> handlers = new ConcurrentHashMap<>();
    final List<Received> received = new CopyOnWriteArrayList<>();
    /** Released at close, so handlers that hang ({@link #hang}) let the server stop. */
    final CountDownLatch closing = new CountDownLatch(1);

    StubNode() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(executor);
        server.createContext("/", this::dispatch);
        handlers.put("/health", (r, ex) -> respond(ex, 200, "text/plain", ""));
        handlers.put("/v1/chat/completions", (r, ex) -> respond(ex, 200, "application/json", chatCompletion("ok")));
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    StubNode on(String path, Handler handler) {
        handlers.put(path, handler);
        return this;
    }

    List<Received> received(String path) {
        return received.stream().filter(r -> r.path.equals(path)).toList();
    }

    private void dispatch(HttpExchange ex) throws IOException {
        byte[] body = ex.getRequestBody().readAllBytes();
        Received r = new Received(
                ex.getRequestMethod(),
                ex.getRequestURI().getPath(),
                Map.copyOf(ex.getRequestHeaders()),
                body,
                CLOCK.incrementAndGet());
        received.add(r);
        Handler h = handlers.get(r.path);
        try {
            if (h == null) {
                respond(ex, 404, "application/json", "{\"detail\":\"Not Found\"}");
            } else {
                h.handle(r, ex);
            }
        } catch (IOException e) {
            // the proxy hung up: that is what some tests want to see
        } catch (Exception e) {
            throw new IOException(e);
        } finally {
            ex.close();
        }
    }

    static void respond(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    /** Sends {@code chunks} as a chunked SSE body, flushing each and pausing {@code gapMillis} between. */
    static void stream(HttpExchange ex, List<byte[]> chunks, long gapMillis) throws IOException, InterruptedException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        for (byte[] c : chunks) {
            out.write(c);
            out.flush();
            if (gapMillis > 0) {
                Thread.sleep(gapMillis);
            }
        }
        out.close();
    }

    /** Never answers until the test ends. */
    void hang(String path) {
        on(path, (r, ex) -> closing.await());
    }

    static String chatCompletion(String text) {
        return """
                {"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m",\
                "choices":[{"index":0,"message":{"role":"assistant","content":"%s"},"finish_reason":"length",\
                "logprobs":null}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}""".formatted(text);
    }

    @Override
    public void close() {
        closing.countDown();
        server.stop(0);
        executor.shutdownNow();
    }
}
