package dev.jepd.media;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Limits for {@link MediaLoader}, mirroring vLLM's serve flags.
 *
 * @param allowedLocalMediaPath {@code --allowed-local-media-path}: the only directory {@code file:} URLs and
 *     plain paths may read from; null disables local files entirely (vLLM's default)
 * @param allowedMediaDomains {@code --allowed-media-domains}: hosts http(s) URLs may name (lowercased); empty allows any
 * @param maxEncodedBytes the largest encoded image accepted from any source (413 territory)
 * @param maxPixels the largest declared width × height the decoder will decode
 * @param fetchTimeout the whole http(s) fetch, connect to last byte ({@code VLLM_IMAGE_FETCH_TIMEOUT})
 * @param allowPrivateNetworks {@code --allow-private-media-urls}: http(s) URLs (and redirect targets) may resolve
 *     to loopback, link-local, private, unique-local, CGNAT, multicast or unspecified addresses; off by default, so
 *     that a client cannot aim the node's fetcher at its own network
 */
public record MediaConfig(
        Path allowedLocalMediaPath,
        Set<String> allowedMediaDomains,
        long maxEncodedBytes,
        long maxPixels,
        Duration fetchTimeout,
        boolean allowPrivateNetworks) {
    /** 64 MiB: far above any sane photo, far below what a 2-core node can afford per request. */
    public static final long DEFAULT_MAX_ENCODED_BYTES = 64L << 20;
    /** vLLM's {@code VLLM_IMAGE_FETCH_TIMEOUT} default. */
    public static final Duration DEFAULT_FETCH_TIMEOUT = Duration.ofSeconds(5);

    public MediaConfig {
        allowedMediaDomains = allowedMediaDomains == null // host names compare case-insensitively
                ? Set.of()
                : allowedMediaDomains.stream()
                        .map(d -> d.toLowerCase(Locale.ROOT))
                        .collect(Collectors.toUnmodifiableSet());
        if (maxEncodedBytes <= 0 || maxEncodedBytes > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("maxEncodedBytes must be in 1..2^31-17, got " + maxEncodedBytes);
        }
        if (maxPixels <= 0) {
            throw new IllegalArgumentException("maxPixels must be positive, got " + maxPixels);
        }
        if (fetchTimeout == null || fetchTimeout.isNegative() || fetchTimeout.isZero()) {
            throw new IllegalArgumentException("fetchTimeout must be positive, got " + fetchTimeout);
        }
    }

    /** No local files, any domain, default limits. */
    public static MediaConfig defaults() {
        return new MediaConfig(
                null,
                Set.of(),
                DEFAULT_MAX_ENCODED_BYTES,
                ImageDecoder.DEFAULT_MAX_PIXELS,
                DEFAULT_FETCH_TIMEOUT,
                false);
    }

    public MediaConfig withAllowedLocalMediaPath(Path dir) {
        return new MediaConfig(
                dir, allowedMediaDomains, maxEncodedBytes, maxPixels, fetchTimeout, allowPrivateNetworks);
    }

    public MediaConfig withMaxEncodedBytes(long bytes) {
        return new MediaConfig(
                allowedLocalMediaPath, allowedMediaDomains, bytes, maxPixels, fetchTimeout, allowPrivateNetworks);
    }

    public MediaConfig withMaxPixels(long pixels) {
        return new MediaConfig(
                allowedLocalMediaPath,
                allowedMediaDomains,
                maxEncodedBytes,
                pixels,
                fetchTimeout,
                allowPrivateNetworks);
    }

    public MediaConfig withFetchTimeout(Duration timeout) {
        return new MediaConfig(
                allowedLocalMediaPath, allowedMediaDomains, maxEncodedBytes, maxPixels, timeout, allowPrivateNetworks);
    }

    public MediaConfig withAllowPrivateNetworks(boolean allow) {
        return new MediaConfig(
                allowedLocalMediaPath, allowedMediaDomains, maxEncodedBytes, maxPixels, fetchTimeout, allow);
    }

    public MediaConfig withAllowedMediaDomains(Set<String> domains) {
        return new MediaConfig(
                allowedLocalMediaPath, domains, maxEncodedBytes, maxPixels, fetchTimeout, allowPrivateNetworks);
    }
}
