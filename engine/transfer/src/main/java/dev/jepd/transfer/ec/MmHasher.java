package dev.jepd.transfer.ec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;
import org.apache.commons.codec.binary.Hex;
import org.apache.commons.codec.digest.Blake3;

/**
 * vLLM's multimodal item hash ({@code mm_hash}) for one image, as {@code MultiModalHasher.hash_kwargs(model_id=<model>,
 * image=<MediaWithBytes>)} computes it when the request has no {@code mm_processor_kwargs} / {@code media_io_kwargs}.
 * The image is hashed by its <em>original file bytes</em> (the decoded {@code data:} URL payload or the HTTP body),
 * not by its pixels: vLLM wraps loaded images in {@code MediaWithBytes} and its hasher reads {@code original_bytes}.
 *
 * <p>vLLM has changed how the chunks are fed to the digest, so the {@link Format} is switchable; E and PD nodes of
 * one cluster must agree on it, on the {@link Algorithm} and on the model string given to serve.
 */
public record MmHasher(Algorithm algorithm, Format format) {
    /** BLAKE3 over the unframed stream: what DESIGN §4.2 pins for vLLM ~0.14 and later unframed releases. */
    public static final MmHasher DEFAULT = new MmHasher(Algorithm.BLAKE3, Format.UNFRAMED);

    private static final byte[] MODEL_ID = ascii("model_id");
    private static final byte[] IMAGE = ascii("image");
    /** vLLM's {@code _TAG_LEAF}: a framed value that is neither None, a sequence nor a mapping. */
    private static final byte TAG_LEAF = 0x03;

    public MmHasher {
        if (algorithm == null || format == null) {
            throw new IllegalArgumentException("algorithm and format are required");
        }
    }

    /** vLLM's {@code --mm-hasher-algorithm} (older releases: {@code VLLM_MM_HASHER_ALGORITHM}). */
    public enum Algorithm {
        BLAKE3("blake3"),
        SHA256("sha256"),
        SHA512("sha512");

        private final String cliName;

        Algorithm(String cliName) {
            this.cliName = cliName;
        }

        public String cliName() {
            return cliName;
        }

        /** Case-insensitive, as vLLM lower-cases the setting before choosing. */
        public static Algorithm parse(String name) {
            String lower = name == null ? "" : name.toLowerCase(Locale.ROOT);
            for (Algorithm a : values()) {
                if (a.cliName.equals(lower)) {
                    return a;
                }
            }
            throw new IllegalArgumentException(
                    "unsupported --mm-hasher-algorithm " + name + " (accepted: blake3, sha256, sha512)");
        }
    }

    /**
     * How {@code hash_kwargs} turns its keyword arguments into digest input. For an image item the arguments are
     * {@code model_id=<model string>} and {@code image=MediaWithBytes}; the value of {@code image} serializes as the
     * nested pair {@code ("image", original_bytes)}, which is why "image" appears twice.
     */
    public enum Format {
        /**
         * Unframed, kwargs in call order (vLLM's {@code hasher.py} with the {@code MediaWithBytes} branch and no
         * sorting, e.g. the January 2026 tree after PR #32025): {@code "model_id" ‖ model ‖ "image" ‖ "image" ‖ bytes}.
         * The first "image" is the kwarg name (the modality), the second the key that the {@code MediaWithBytes}
         * branch of {@code serialize_item} passes to {@code iter_item_to_bytes("image", original_bytes)}.
         */
        UNFRAMED,
        /**
         * Unframed, kwargs sorted by name (later unframed {@code hasher.py}: {@code sorted(kwargs.items())}), so the
         * image comes first: {@code "image" ‖ "image" ‖ bytes ‖ "model_id" ‖ model}.
         */
        UNFRAMED_SORTED,
        /**
         * Framed (vLLM PR #54283, in v0.32 docs): kwargs sorted; every key and leaf chunk is preceded by its length as
         * a u64 little-endian and every value by a one-byte kind tag (leaf = 0x03):
         * {@code len‖"image" 03 len‖"image" 03 len‖bytes len‖"model_id" 03 len‖model}.
         */
        FRAMED
    }

    /** The hex digest that vLLM uses as the item's identifier (and so as the EC directory name). */
    public String key(String modelName, byte[] originalImageBytes) {
        if (modelName == null || originalImageBytes == null) {
            throw new IllegalArgumentException("model name and image bytes are required");
        }
        byte[] model = modelName.getBytes(StandardCharsets.UTF_8);
        Sink sink = Sink.of(algorithm);
        switch (format) {
            case UNFRAMED -> {
                sink.update(MODEL_ID);
                sink.update(model);
                sink.update(IMAGE);
                sink.update(IMAGE);
                sink.update(originalImageBytes);
            }
            case UNFRAMED_SORTED -> {
                sink.update(IMAGE);
                sink.update(IMAGE);
                sink.update(originalImageBytes);
                sink.update(MODEL_ID);
                sink.update(model);
            }
            case FRAMED -> {
                // "image" < "model_id": sorted order puts the item first.
                framed(sink, IMAGE);
                sink.update(new byte[] {TAG_LEAF});
                framed(sink, IMAGE);
                sink.update(new byte[] {TAG_LEAF});
                framed(sink, originalImageBytes);
                framed(sink, MODEL_ID);
                sink.update(new byte[] {TAG_LEAF});
                framed(sink, model);
            }
        }
        return Hex.encodeHexString(sink.digest());
    }

    private static void framed(Sink sink, byte[] chunk) {
        sink.update(ByteBuffer.allocate(8)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(chunk.length)
                .array());
        sink.update(chunk);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** One streaming digest; BLAKE3 comes from commons-codec because the JDK has none. */
    private interface Sink {
        void update(byte[] bytes);

        byte[] digest();

        static Sink of(Algorithm algorithm) {
            return switch (algorithm) {
                case BLAKE3 -> {
                    Blake3 b = Blake3.initHash();
                    yield new Sink() {
                        @Override
                        public void update(byte[] bytes) {
                            b.update(bytes);
                        }

                        @Override
                        public byte[] digest() {
                            return b.doFinalize(32); // blake3.hexdigest() is the default 32-byte output
                        }
                    };
                }
                case SHA256 -> messageDigest("SHA-256");
                case SHA512 -> messageDigest("SHA-512");
            };
        }

        private static Sink messageDigest(String name) {
            MessageDigest md;
            try {
                md = MessageDigest.getInstance(name);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JDK lacks " + name, e);
            }
            return new Sink() {
                @Override
                public void update(byte[] bytes) {
                    md.update(bytes);
                }

                @Override
                public byte[] digest() {
                    return md.digest();
                }
            };
        }
    }
}
