package dev.jepd.media;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An {@code image_url} from a request to its bytes and pixels, with vLLM's rules ({@code MediaConnector}):
 * <ul>
 *   <li>{@code data:<type>;base64,<payload>}: strict base64 as {@code pybase64.b64decode(validate=True)}
 *       (alphabet only, padded); the media type is not trusted, the bytes are sniffed;
 *   <li>{@code file:} URLs and plain paths: only below {@link MediaConfig#allowedLocalMediaPath()}, checked
 *       on the normalised path and again on the real path, so neither {@code ..} nor a symlink leaves it;
 *       a relative path is taken relative to that directory; refused when no directory is configured;
 *   <li>{@code http:}/{@code https:}: {@link HttpClient}, redirects followed (vLLM's default) one hop at a time,
 *       every hop checked against {@code --allowed-media-domains} and, unless private URLs are allowed, refused
 *       when its host resolves to a loopback, link-local or private address; one deadline for the whole fetch,
 *       the size cap enforced while the body streams in; error messages never quote what a server sent.
 * </ul>
 * Every source is capped at {@link MediaConfig#maxEncodedBytes()}. Thread-safe.
 */
public final class MediaLoader implements AutoCloseable {
    private static final Pattern SCHEME = Pattern.compile("^([A-Za-z][A-Za-z0-9+.-]+):");

    private final MediaConfig config;
    private final Path allowedRoot; // real path of the allowed directory, or null: local files disabled
    private final ImageDecoder decoder;
    private final Object httpLock = new Object();
    private HttpClient http; // created on the first http(s) URL; guarded by httpLock

    public MediaLoader(MediaConfig config) {
        this.config = config;
        this.decoder = new ImageDecoder(config.maxPixels());
        if (config.allowedLocalMediaPath() == null) {
            this.allowedRoot = null;
        } else {
            try {
                this.allowedRoot = config.allowedLocalMediaPath().toRealPath();
            } catch (IOException e) {
                throw new IllegalArgumentException(
                        "allowed local media path " + config.allowedLocalMediaPath() + " does not exist", e);
            }
            if (!Files.isDirectory(allowedRoot)) {
                throw new IllegalArgumentException("allowed local media path " + allowedRoot + " is not a directory");
            }
        }
    }

    public MediaConfig config() {
        return config;
    }

    public ImageDecoder decoder() {
        return decoder;
    }

    /** Fetches and decodes; the original bytes come back with the pixels. */
    public LoadedImage load(String url) {
        byte[] bytes = fetch(url);
        ImageDecoder.Decoded d = decoder.decodeWithMode(bytes);
        return new LoadedImage(bytes, d.image(), d.convertedToRgb());
    }

    /** The encoded bytes behind {@code url}, exactly as delivered. */
    public byte[] fetch(String url) {
        if (url == null || url.isEmpty()) {
            throw new MediaException(MediaException.Reason.BAD_URL, "image URL is empty");
        }
        Matcher m = SCHEME.matcher(url);
        String scheme = m.find() ? m.group(1).toLowerCase(Locale.ROOT) : "";
        return switch (scheme) {
            case "" -> readLocal(url, url);
            case "data" -> decodeDataUrl(url);
            case "file" -> readFileUrl(url);
            case "http", "https" -> fetchHttp(url);
            default ->
                throw new MediaException(
                        MediaException.Reason.BAD_URL,
                        "unsupported URL scheme '" + scheme + "': the URL must be a data, file, http or https URL");
        };
    }

    // ---- data: --------------------------------------------------------------------------------------

    private byte[] decodeDataUrl(String url) {
        int comma = url.indexOf(',');
        if (comma < 0) {
            throw new MediaException(MediaException.Reason.BAD_DATA_URL, "data URL has no ',' before its payload");
        }
        String spec = url.substring("data:".length(), comma);
        if (!spec.endsWith(";base64")) {
            throw new MediaException(
                    MediaException.Reason.BAD_DATA_URL,
                    "only base64 data URLs are supported (data:<media type>;base64,...), got 'data:" + abbreviate(spec)
                            + ",...'");
        }
        int payloadLength = url.length() - comma - 1;
        if (payloadLength == 0) {
            throw new MediaException(MediaException.Reason.EMPTY, "data URL has an empty payload");
        }
        if ((long) payloadLength / 4 * 3 - 2 > config.maxEncodedBytes()) { // checked before decoding
            throw tooLarge("data URL payload", (long) payloadLength / 4 * 3);
        }
        if (payloadLength % 4 != 0) {
            throw new MediaException(
                    MediaException.Reason.BAD_DATA_URL,
                    "invalid base64 in data URL: length " + payloadLength
                            + " is not a multiple of 4 (missing padding?)");
        }
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(url.substring(comma + 1));
        } catch (IllegalArgumentException e) {
            throw new MediaException(
                    MediaException.Reason.BAD_DATA_URL, "invalid base64 in data URL: " + e.getMessage(), e);
        }
        if (bytes.length > config.maxEncodedBytes()) {
            throw tooLarge("data URL payload", bytes.length);
        }
        return bytes;
    }

    // ---- file: and plain paths --------------------------------------------------------------------------

    private byte[] readFileUrl(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new MediaException(MediaException.Reason.BAD_URL, "malformed file URL: " + e.getMessage(), e);
        }
        String authority = uri.getRawAuthority();
        if (authority != null && !authority.isEmpty() && !authority.equalsIgnoreCase("localhost")) {
            throw new MediaException(
                    MediaException.Reason.BAD_URL,
                    "file URL names host '" + authority + "': only local files are read");
        }
        String path = uri.isOpaque() ? uri.getSchemeSpecificPart() : uri.getPath();
        if (path == null || path.isEmpty()) {
            throw new MediaException(MediaException.Reason.BAD_URL, "file URL has no path: " + abbreviate(url));
        }
        return readLocal(path, url);
    }

    private byte[] readLocal(String pathText, String shown) {
        if (allowedRoot == null) {
            throw new MediaException(
                    MediaException.Reason.FORBIDDEN_PATH,
                    "cannot load local files without --allowed-local-media-path (asked for " + abbreviate(shown) + ")");
        }
        Path requested;
        try {
            requested = allowedRoot.resolve(pathText).normalize();
        } catch (InvalidPathException e) {
            throw new MediaException(MediaException.Reason.BAD_URL, "invalid local path: " + e.getMessage(), e);
        }
        if (!isStrictlyInside(requested)) {
            throw forbidden(shown);
        }
        Path real;
        try {
            real = requested.toRealPath();
        } catch (NoSuchFileException e) {
            throw new MediaException(MediaException.Reason.NOT_FOUND, "no such file: " + abbreviate(shown), e);
        } catch (IOException | SecurityException e) {
            throw new MediaException(
                    MediaException.Reason.NOT_FOUND, "cannot resolve " + abbreviate(shown) + ": " + e.getMessage(), e);
        }
        if (!isStrictlyInside(real)) { // a symlink inside the directory pointing out of it
            throw forbidden(shown);
        }
        if (!Files.isRegularFile(real)) {
            throw new MediaException(MediaException.Reason.NOT_FOUND, "not a regular file: " + abbreviate(shown));
        }
        try {
            long size = Files.size(real);
            if (size > config.maxEncodedBytes()) {
                throw tooLarge("file " + abbreviate(shown), size);
            }
            try (InputStream in = Files.newInputStream(real)) {
                // The file may have grown since the size check: read at most one byte past the cap.
                byte[] bytes = in.readNBytes((int) config.maxEncodedBytes() + 1);
                if (bytes.length > config.maxEncodedBytes()) {
                    throw tooLarge("file " + abbreviate(shown), bytes.length);
                }
                return bytes;
            }
        } catch (IOException e) {
            throw new MediaException(
                    MediaException.Reason.NOT_FOUND, "cannot read " + abbreviate(shown) + ": " + e.getMessage(), e);
        }
    }

    private boolean isStrictlyInside(Path p) {
        return p.startsWith(allowedRoot) && !p.equals(allowedRoot);
    }

    private MediaException forbidden(String shown) {
        return new MediaException(
                MediaException.Reason.FORBIDDEN_PATH,
                "the file path " + abbreviate(shown) + " must be a subpath of --allowed-local-media-path "
                        + allowedRoot);
    }

    // ---- http(s): ---------------------------------------------------------------------------------------

    /** Redirect hops followed before a fetch gives up (aiohttp, which vLLM uses, stops at 10). */
    static final int MAX_REDIRECTS = 10;

    private byte[] fetchHttp(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new MediaException(MediaException.Reason.BAD_URL, "malformed URL: " + e.getMessage(), e);
        }
        long deadline = System.nanoTime() + config.fetchTimeout().toNanos();
        // Redirects are followed here, hop by hop, so that every target passes the same checks as the first URL.
        for (int hop = 0; ; hop++) {
            checkTarget(uri, url, hop);
            HttpResponse<byte[]> response = fetchOnce(uri, url, deadline);
            int status = response.statusCode();
            if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
                if (hop >= MAX_REDIRECTS) {
                    throw new MediaException(
                            MediaException.Reason.FETCH_FAILED,
                            "fetching " + abbreviate(url) + " was redirected more than " + MAX_REDIRECTS + " times");
                }
                String location = response.headers().firstValue("Location").orElse(null);
                if (location == null) {
                    throw new MediaException(
                            MediaException.Reason.FETCH_FAILED,
                            "fetching " + abbreviate(url) + " returned HTTP " + status + " without a Location");
                }
                try {
                    uri = uri.resolve(new URI(location.strip()));
                } catch (URISyntaxException | IllegalArgumentException e) {
                    throw new MediaException(
                            MediaException.Reason.BAD_URL,
                            "fetching " + abbreviate(url) + " was redirected to a malformed URL",
                            e);
                }
                continue;
            }
            if (status / 100 != 2) {
                throw new MediaException(
                        MediaException.Reason.FETCH_FAILED, "fetching " + abbreviate(url) + " returned HTTP " + status);
            }
            if (response.body().length == 0) {
                throw new MediaException(MediaException.Reason.EMPTY, "empty body from " + abbreviate(url));
            }
            return response.body();
        }
    }

    /**
     * The checks every hop passes: http or https, a host, the host in {@code --allowed-media-domains} (when set),
     * and, unless {@code --allow-private-media-urls}, every address the host resolves to public. (The client
     * resolves the name again when it connects; a name whose answers change between the two lookups is the one
     * case this does not cover.)
     */
    private void checkTarget(URI uri, String original, int hop) {
        String shown = hop == 0 ? abbreviate(original) : abbreviate(original) + " (redirect " + hop + ")";
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new MediaException(
                    MediaException.Reason.BAD_URL, "fetching " + shown + ": only http and https URLs are followed");
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw new MediaException(MediaException.Reason.BAD_URL, "URL has no host: " + shown);
        }
        String domain = host.toLowerCase(Locale.ROOT);
        if (domain.endsWith(".")) {
            domain = domain.substring(0, domain.length() - 1);
        }
        if (!config.allowedMediaDomains().isEmpty()
                && !config.allowedMediaDomains().contains(domain)) {
            throw new MediaException(
                    MediaException.Reason.FORBIDDEN_DOMAIN,
                    "the domain " + abbreviate(host) + " of " + shown + " is not in --allowed-media-domains "
                            + config.allowedMediaDomains());
        }
        if (config.allowPrivateNetworks()) {
            return;
        }
        InetAddress[] addresses;
        try {
            addresses = InetAddress.getAllByName(host);
        } catch (UnknownHostException | SecurityException e) {
            throw new MediaException(MediaException.Reason.FETCH_FAILED, "cannot resolve the host of " + shown, e);
        }
        for (InetAddress a : addresses) {
            if (PrivateAddresses.isPrivate(a)) {
                throw new MediaException(
                        MediaException.Reason.FORBIDDEN_DOMAIN,
                        "fetching " + shown + " refused: its host resolves to a loopback, link-local or private"
                                + " address (start the node with --allow-private-media-urls to allow that)");
            }
        }
    }

    private HttpResponse<byte[]> fetchOnce(URI uri, String url, long deadline) {
        long leftNanos = deadline - System.nanoTime();
        if (leftNanos <= 0) {
            throw timedOut(url, null);
        }
        Duration left = Duration.ofNanos(leftNanos);
        HttpRequest request = HttpRequest.newBuilder(uri)
                .timeout(left)
                .header("Accept", "image/*")
                .GET()
                .build();
        long limit = config.maxEncodedBytes();
        CompletableFuture<HttpResponse<byte[]>> pending = http().sendAsync(request, info -> {
            if (info.statusCode() / 100 != 2) { // the status is the error (or the redirect); the body is not wanted
                return HttpResponse.BodySubscribers.replacing(new byte[0]);
            }
            long declared = info.headers().firstValueAsLong("Content-Length").orElse(-1);
            return new CappedBody(limit, declared, url);
        });
        try {
            return pending.get(left.toMillis() + 1, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            pending.cancel(true);
            throw timedOut(url, e);
        } catch (InterruptedException e) {
            pending.cancel(true);
            Thread.currentThread().interrupt();
            throw new MediaException(MediaException.Reason.FETCH_FAILED, "interrupted fetching " + abbreviate(url), e);
        } catch (ExecutionException e) {
            for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
                if (t instanceof MediaException me) {
                    throw me;
                }
                if (t instanceof HttpTimeoutException) {
                    throw timedOut(url, t);
                }
            }
            Throwable cause = e.getCause() == null ? e : e.getCause();
            // The cause's class only: its message may quote what the server sent.
            throw new MediaException(
                    MediaException.Reason.FETCH_FAILED,
                    "cannot fetch " + abbreviate(url) + ": " + cause.getClass().getSimpleName(),
                    cause);
        }
    }

    private HttpClient http() {
        synchronized (httpLock) {
            if (http == null) {
                http = HttpClient.newBuilder()
                        .connectTimeout(config.fetchTimeout())
                        .followRedirects(HttpClient.Redirect.NEVER) // followed by fetchHttp, each hop checked
                        .build();
            }
            return http;
        }
    }

    private MediaException timedOut(String url, Throwable cause) {
        return new MediaException(
                MediaException.Reason.FETCH_FAILED,
                "fetching " + abbreviate(url) + " timed out after "
                        + config.fetchTimeout().toMillis() + " ms",
                cause);
    }

    /** Collects the body and gives up as soon as it passes the limit, declared or streamed. */
    private static final class CappedBody implements HttpResponse.BodySubscriber<byte[]> {
        private final long limit;
        private final long declared;
        private final String url;
        private final CompletableFuture<byte[]> result = new CompletableFuture<>();
        private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        private Flow.Subscription subscription;

        CappedBody(long limit, long declared, String url) {
            this.limit = limit;
            this.declared = declared;
            this.url = url;
        }

        @Override
        public CompletionStage<byte[]> getBody() {
            return result;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            if (declared > limit) {
                s.cancel();
                result.completeExceptionally(tooLarge(url, declared, limit));
                return;
            }
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(List<ByteBuffer> items) {
            if (result.isDone()) {
                return;
            }
            for (ByteBuffer b : items) {
                if ((long) buffer.size() + b.remaining() > limit) {
                    subscription.cancel();
                    result.completeExceptionally(tooLarge(url, (long) buffer.size() + b.remaining(), limit));
                    return;
                }
                byte[] chunk = new byte[b.remaining()];
                b.get(chunk);
                buffer.writeBytes(chunk);
            }
        }

        @Override
        public void onError(Throwable t) {
            result.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            result.complete(buffer.toByteArray());
        }

        private static MediaException tooLarge(String url, long size, long limit) {
            return new MediaException(
                    MediaException.Reason.TOO_LARGE,
                    "image at " + abbreviate(url) + " is larger than the limit of " + limit + " bytes (at least " + size
                            + ")");
        }
    }

    private MediaException tooLarge(String what, long size) {
        return new MediaException(
                MediaException.Reason.TOO_LARGE,
                what + " has " + size + " bytes, more than the limit of " + config.maxEncodedBytes());
    }

    /** URLs can be megabytes of base64: error messages quote only their start. */
    private static String abbreviate(String s) {
        return s.length() <= 120 ? s : s.substring(0, 117) + "...";
    }

    @Override
    public void close() {
        synchronized (httpLock) {
            if (http != null) {
                http.close();
                http = null;
            }
        }
    }
}
