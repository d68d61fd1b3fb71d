package dev.jepd.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MediaLoaderTest {
    private static final byte[] PNG = MediaResources.bytes("decode/png_rgb8.png");

    @TempDir
    Path tmp;

    private Path allowed;
    private Path outside;
    private MediaLoader local;

    @BeforeEach
    void files() throws IOException {
        allowed = Files.createDirectories(tmp.resolve("media"));
        Files.createDirectories(allowed.resolve("sub"));
        Files.write(allowed.resolve("sub/a.png"), PNG);
        outside = Files.write(tmp.resolve("secret.png"), PNG);
        local = new MediaLoader(MediaConfig.defaults().withAllowedLocalMediaPath(allowed));
    }

    @AfterEach
    void close() {
        local.close();
    }

    // ---- data: URLs ---------------------------------------------------------------------------------

    @Test
    void dataUrlReturnsTheOriginalBytesAndThePixels() {
        LoadedImage image =
                local.load("data:image/png;base64," + Base64.getEncoder().encodeToString(PNG));
        assertArrayEquals(PNG, image.bytes());
        assertEquals(23, image.image().width());
        assertEquals(17, image.image().height());
    }

    @Test
    void badDataUrls() {
        String b64 = Base64.getEncoder().encodeToString(PNG);
        assertReason(MediaException.Reason.BAD_DATA_URL, "data:image/png;base64" + b64); // no comma
        assertReason(MediaException.Reason.BAD_DATA_URL, "data:image/png," + b64); // not base64
        assertReason(
                MediaException.Reason.BAD_DATA_URL,
                "data:image/png;base64," + b64.substring(0, 10) + "*" + b64.substring(11));
        assertReason(
                MediaException.Reason.BAD_DATA_URL,
                "data:image/png;base64," + b64.substring(0, 10) + "\n" + b64.substring(10, b64.length() - 1));
        assertReason(MediaException.Reason.BAD_DATA_URL, "data:image/png;base64,YWJj-_==");
        assertReason(MediaException.Reason.BAD_DATA_URL, "data:image/png;base64,YWI"); // unpadded, as Python refuses
        assertReason(MediaException.Reason.EMPTY, "data:image/png;base64,");
        assertReason(
                MediaException.Reason.UNSUPPORTED_FORMAT, "data:image/png;base64,aGVsbG8gd29ybGQh"); // "hello world!"
    }

    @Test
    void oversizedDataUrlIsTooLarge() {
        try (MediaLoader small = new MediaLoader(MediaConfig.defaults().withMaxEncodedBytes(100))) {
            MediaException e = assertThrows(
                    MediaException.class,
                    () -> small.fetch(
                            "data:image/png;base64," + Base64.getEncoder().encodeToString(PNG)));
            assertEquals(MediaException.Reason.TOO_LARGE, e.reason());
        }
    }

    // ---- local files ----------------------------------------------------------------------------------

    @Test
    void localFilesInsideTheAllowedDirectory() {
        assertArrayEquals(PNG, local.fetch(allowed.resolve("sub/a.png").toString()));
        assertArrayEquals(PNG, local.fetch("sub/a.png")); // relative to the allowed directory
        assertArrayEquals(PNG, local.fetch(allowed.resolve("sub/a.png").toUri().toString())); // file:///...
        assertArrayEquals(PNG, local.fetch("file://localhost" + allowed.resolve("sub/a.png")));
        assertArrayEquals(PNG, local.fetch(allowed.resolve("sub/../sub/a.png").toString()));
    }

    @Test
    void pathsLeavingTheAllowedDirectoryAreForbidden() {
        assertReason(MediaException.Reason.FORBIDDEN_PATH, outside.toString());
        assertReason(MediaException.Reason.FORBIDDEN_PATH, outside.toUri().toString());
        assertReason(MediaException.Reason.FORBIDDEN_PATH, "../secret.png");
        assertReason(MediaException.Reason.FORBIDDEN_PATH, "sub/../../secret.png");
        assertReason(MediaException.Reason.FORBIDDEN_PATH, "file://" + allowed + "/../secret.png");
        assertReason(MediaException.Reason.FORBIDDEN_PATH, "file://" + allowed + "/%2e%2e/secret.png");
        assertReason(MediaException.Reason.FORBIDDEN_PATH, allowed.toString()); // the directory itself
        assertReason(MediaException.Reason.BAD_URL, "file://otherhost/etc/passwd");
    }

    @Test
    void symlinksOutOfTheAllowedDirectoryAreForbidden() throws IOException {
        Files.createSymbolicLink(allowed.resolve("escape.png"), outside);
        Files.createSymbolicLink(allowed.resolve("updir"), tmp);
        Files.createSymbolicLink(allowed.resolve("inside.png"), allowed.resolve("sub/a.png"));
        assertReason(MediaException.Reason.FORBIDDEN_PATH, "escape.png");
        assertReason(MediaException.Reason.FORBIDDEN_PATH, "updir/secret.png");
        assertArrayEquals(PNG, local.fetch("inside.png"));
    }

    @Test
    void localFilesAreRefusedWithoutAnAllowedDirectory() {
        try (MediaLoader none = new MediaLoader(MediaConfig.defaults())) {
            MediaException e = assertThrows(MediaException.class, () -> none.fetch(outside.toString()));
            assertEquals(MediaException.Reason.FORBIDDEN_PATH, e.reason());
            assertTrue(e.getMessage().contains("--allowed-local-media-path"), e.getMessage());
            assertEquals(
                    MediaException.Reason.FORBIDDEN_PATH,
                    assertThrows(
                                    MediaException.class,
                                    () -> none.fetch(outside.toUri().toString()))
                            .reason());
        }
    }

    @Test
    void missingEmptyAndOversizedFiles() throws IOException {
        assertReason(MediaException.Reason.NOT_FOUND, "sub/missing.png");
        assertReason(MediaException.Reason.NOT_FOUND, "sub");
        Files.write(allowed.resolve("empty.png"), new byte[0]);
        MediaException e = assertThrows(MediaException.class, () -> local.load("empty.png"));
        assertEquals(MediaException.Reason.EMPTY, e.reason());
        try (MediaLoader small = new MediaLoader(
                MediaConfig.defaults().withAllowedLocalMediaPath(allowed).withMaxEncodedBytes(100))) {
            assertEquals(
                    MediaException.Reason.TOO_LARGE,
                    assertThrows(MediaException.class, () -> small.fetch("sub/a.png"))
                            .reason());
        }
    }

    @Test
    void otherSchemesAreBadUrls() {
        assertReason(MediaException.Reason.BAD_URL, "ftp://example.com/a.png");
        assertReason(MediaException.Reason.BAD_URL, "");
    }

    // ---- http(s) ------------------------------------------------------------------------------------

    @Test
    void httpFetchWithStatusSizeAndTimeoutChecks() throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/img.png", ex -> respond(ex, 200, PNG, PNG.length));
        server.createContext("/missing.png", ex -> respond(ex, 404, new byte[0], -1));
        server.createContext("/big-declared.png", ex -> respond(ex, 200, new byte[5000], 5000));
        server.createContext("/big-chunked.png", ex -> respond(ex, 200, new byte[5000], 0));
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        server.createContext("/slow.png", ex -> {
            try {
                // Answers only when the test is over: the client's timeout must cut it short.
                release.await(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            respond(ex, 200, PNG, PNG.length);
        });
        server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        server.start();
        String base = "http://127.0.0.1:" + server.getAddress().getPort();
        // Generous for the fetches that must succeed (a loaded 2-core CI machine), short for the slow one.
        // The test server is on loopback, which a node refuses unless --allow-private-media-urls.
        MediaConfig config = MediaConfig.defaults()
                .withMaxEncodedBytes(4000)
                .withFetchTimeout(Duration.ofSeconds(30))
                .withAllowPrivateNetworks(true);
        MediaConfig impatient = config.withFetchTimeout(Duration.ofMillis(500));
        try (MediaLoader http = new MediaLoader(config);
                MediaLoader quick = new MediaLoader(impatient)) {
            LoadedImage image = http.load(base + "/img.png");
            assertArrayEquals(PNG, image.bytes());
            assertEquals(23, image.image().width());
            assertEquals(
                    MediaException.Reason.FETCH_FAILED,
                    assertThrows(MediaException.class, () -> http.fetch(base + "/missing.png"))
                            .reason());
            assertEquals(
                    MediaException.Reason.TOO_LARGE,
                    assertThrows(MediaException.class, () -> http.fetch(base + "/big-declared.png"))
                            .reason());
            assertEquals(
                    MediaException.Reason.TOO_LARGE,
                    assertThrows(MediaException.class, () -> http.fetch(base + "/big-chunked.png"))
                            .reason());
            long start = System.nanoTime();
            MediaException slow = assertThrows(MediaException.class, () -> quick.fetch(base + "/slow.png"));
            assertEquals(MediaException.Reason.FETCH_FAILED, slow.reason());
            assertTrue(slow.getMessage().contains("timed out"), slow.getMessage());
            assertTrue(System.nanoTime() - start < 20_000_000_000L, "the timeout did not cut the 30 s fetch short");
        } finally {
            release.countDown();
            server.stop(0);
        }
        try (MediaLoader restricted = new MediaLoader(config.withAllowedMediaDomains(Set.of("example.com")))) {
            assertEquals(
                    MediaException.Reason.FORBIDDEN_DOMAIN,
                    assertThrows(MediaException.class, () -> restricted.fetch(base + "/img.png"))
                            .reason());
        }
    }

    @Test
    void allowedMediaDomainsCompareCaseInsensitively() {
        // --allowed-media-domains as the flag gives it, on a node and on the proxy: the URL's host is lowercased.
        assertEquals(
                Set.of("images.example.com", "cdn.example"),
                MediaConfig.defaults()
                        .withAllowedMediaDomains(Set.of("Images.Example.COM", "cdn.example"))
                        .allowedMediaDomains());
    }

    @Test
    void urlsAimedInwardAreRefusedOnEveryHopAndErrorsNeverQuoteWhatWasFetched() throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        byte[] secret = "# HELP jepd:secret internal metrics".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        server.createContext("/metrics", ex -> respond(ex, 200, secret, secret.length));
        server.createContext("/img.png", ex -> respond(ex, 200, PNG, PNG.length));
        server.createContext("/hop", ex -> {
            ex.getResponseHeaders().add("Location", "/img.png");
            respond(ex, 302, new byte[0], -1);
        });
        server.createContext("/loop", ex -> {
            ex.getResponseHeaders().add("Location", "/loop");
            respond(ex, 302, new byte[0], -1);
        });
        server.start();
        int port = server.getAddress().getPort();
        try (MediaLoader strict = new MediaLoader(MediaConfig.defaults());
                MediaLoader open = new MediaLoader(MediaConfig.defaults().withAllowPrivateNetworks(true));
                MediaLoader listed = new MediaLoader(MediaConfig.defaults()
                        .withAllowPrivateNetworks(true)
                        .withAllowedMediaDomains(Set.of("127.0.0.1")))) {
            for (String host : new String[] {
                "127.0.0.1",
                "localhost",
                "[::1]",
                "10.1.2.3",
                "169.254.169.254",
                "192.168.1.1",
                "172.16.0.1",
                "100.64.0.1",
                "0.0.0.0",
                "[fd00::1]",
                "[::ffff:127.0.0.1]"
            }) {
                MediaException e = assertThrows(
                        MediaException.class, () -> strict.fetch("http://" + host + ":" + port + "/img.png"), host);
                assertEquals(MediaException.Reason.FORBIDDEN_DOMAIN, e.reason(), host + ": " + e.getMessage());
            }
            // Allowed explicitly: redirects are followed, each hop checked again.
            assertArrayEquals(PNG, open.fetch("http://127.0.0.1:" + port + "/hop"));
            assertArrayEquals(PNG, listed.fetch("http://127.0.0.1:" + port + "/hop"));
            MediaException loop =
                    assertThrows(MediaException.class, () -> open.fetch("http://127.0.0.1:" + port + "/loop"));
            assertTrue(loop.getMessage().contains("redirected more than"), loop.getMessage());
            // A redirect to a host outside --allowed-media-domains is refused at that hop.
            server.createContext("/away", ex -> {
                ex.getResponseHeaders().add("Location", "http://localhost:" + port + "/img.png");
                respond(ex, 302, new byte[0], -1);
            });
            MediaException away =
                    assertThrows(MediaException.class, () -> listed.fetch("http://127.0.0.1:" + port + "/away"));
            assertEquals(MediaException.Reason.FORBIDDEN_DOMAIN, away.reason(), away.getMessage());
            // What an internal endpoint answered never comes back in the error.
            MediaException notImage =
                    assertThrows(MediaException.class, () -> open.load("http://127.0.0.1:" + port + "/metrics"));
            assertFalse(notImage.getMessage().contains("HELP"), notImage.getMessage());
            assertFalse(notImage.getMessage().contains("23:20:48"), notImage.getMessage());
        } finally {
            server.stop(0);
        }
    }

    private static void respond(com.sun.net.httpserver.HttpExchange ex, int status, byte[] body, long length)
            throws IOException {
        ex.sendResponseHeaders(status, length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        } catch (IOException e) {
            // the client hung up on purpose (size cap or timeout)
        }
    }

    private void assertReason(MediaException.Reason reason, String url) {
        MediaException e = assertThrows(MediaException.class, () -> local.load(url), url);
        assertEquals(reason, e.reason(), url + ": " + e.getMessage());
    }
}
