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
    /**
     * BLAKE3 over the unframed call-order stream: JEPD's historical default (DESIGN §4.2). Pick the format of the vLLM
     * you pair with ({@link Format#forVllmDate}); this one matches no chat-path era of vLLM.
     */
    public static final MmHasher DEFAULT = new MmHasher(Algorithm.BLAKE3, Format.UNFRAMED);

    private static final byte[] MODEL_ID = ascii("model_id");
    private static final byte[] IMAGE = ascii("image");
    private static final byte[] TRUNCATION = ascii("truncation");
    private static final byte[] IO_CONFIG = ascii("io_config");
    private static final byte[] DATA = ascii("data");
    private static final byte[] IMAGE_MODE = ascii("image_mode");
    private static final byte[] RGB = ascii("RGB");
    private static final byte[] RGBA_BACKGROUND_COLOR = ascii("rgba_background_color");
    /** The unframed flattening of {@code {"io_config": {...}, "data": bytes}} under the key "image": dotted keys. */
    private static final byte[] FLAT_IMAGE_MODE = ascii("image.io_config.image_mode");

    private static final byte[] FLAT_DATA = ascii("image.data");
    /** vLLM's {@code _TAG_SEQUENCE}: a framed list or tuple, followed by its length. */
    private static final byte TAG_SEQUENCE = 0x01;
    /** vLLM's {@code _TAG_MAPPING}: a framed dict, followed by its number of entries. */
    private static final byte TAG_MAPPING = 0x02;
    /** vLLM's {@code _TAG_LEAF}: a framed value that is neither None, a sequence nor a mapping. */
    private static final byte TAG_LEAF = 0x03;
    /** vLLM's default {@code rgba_background_color}, each channel as {@code np.array(255).tobytes()} (int64). */
    private static final int BACKGROUND = 255;

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
     * How vLLM's chat path turns an image item into digest input, one constant per era of vLLM's {@code main}
     * (dates of the changes; see {@link #forVllmDate}). {@code hash_kwargs} gets {@code model_id=<model string>},
     * {@code image=MediaWithBytes} (or the uuid, when it is hashed) and, until 2026-02-17, the tokenizer kwargs that
     * the chat path always set: {@code truncation=False}, which serializes as {@code "truncation" 0x00}
     * ({@code np.array(False).tobytes()}). {@code MediaWithBytes} serializes as the nested pair
     * {@code ("image", original_bytes)}, which is why "image" appears twice: the bytes are the file or the decoded
     * {@code data:} payload as received; the RGB conversion of the loaded image never reaches the hash.
     */
    public enum Format {
        /**
         * Kwargs in call order, with {@code truncation=False}: {@code "model_id" ‖ model ‖ "image" ‖ "image" ‖ bytes ‖
         * "truncation" ‖ 00}. vLLM from the image-bytes hashing (PR #29621, 2025-12) to 2026-02-05.
         */
        UNFRAMED_TRUNCATION("unframed-truncation", false, true),
        /**
         * Kwargs sorted by name ({@code sorted(kwargs.items())}, 2026-02-06), still with {@code truncation=False}:
         * {@code "image" ‖ "image" ‖ bytes ‖ "model_id" ‖ model ‖ "truncation" ‖ 00}. vLLM 2026-02-06 to 2026-02-16.
         */
        SORTED_TRUNCATION("sorted-truncation", true, true),
        /**
         * Call order without extra kwargs: {@code "model_id" ‖ model ‖ "image" ‖ "image" ‖ bytes}. What vLLM's offline
         * ({@code LLM.generate}) path hashed before 2026-02-06; no chat-path era of vLLM matches it. Kept as JEPD's
         * historical default, so that EC stores written by earlier JEPD releases stay valid.
         */
        UNFRAMED("unframed", false, false),
        /**
         * Sorted, no extra kwargs (PR #34711 dropped the tokenizer kwargs on 2026-02-17): {@code "image" ‖ "image" ‖
         * bytes ‖ "model_id" ‖ model}, whatever the image's mode. vLLM from 2026-02-17 until PR #49975 (merged
         * 2026-07-29), which made vLLM hash the conversion settings of an image PIL does not open as RGB: from then on
         * use {@link #SORTED_IO_CONFIG} (the two agree on RGB images).
         */
        UNFRAMED_SORTED("sorted", true, false),
        /**
         * As {@link #UNFRAMED_SORTED}, plus vLLM's {@code io_config} (PR #49975, merged 2026-07-29) for an image that PIL
         * did not open as RGB: {@code serialize_item} then hashes {@code {"io_config": {"image_mode": "RGB",
         * "rgba_background_color": (255, 255, 255)}, "data": bytes}} in the bytes' place, which the unframed
         * flattening writes as dotted keys: {@code "image" ‖ "image.io_config.image_mode" ‖ "RGB" ‖
         * "image.io_config.rgba_background_color.0" ‖ i64(255) ‖ ….1 ‖ i64(255) ‖ ….2 ‖ i64(255) ‖ "image.data" ‖ bytes ‖
         * "model_id" ‖ model}. RGB images hash as in {@link #UNFRAMED_SORTED}. vLLM from 2026-07-29 until the framing
         * change; checked byte for byte against that era's {@code hasher.py} ({@code goldens_sorted_ioconfig.json}).
         */
        SORTED_IO_CONFIG("sorted-ioconfig", true, false),
        /**
         * Framed (vLLM PR #54283, 2026-09): kwargs sorted; every key and leaf chunk is preceded by its length as a u64
         * little-endian and every value by a one-byte kind tag (sequence 0x01 and mapping 0x02, each followed by its
         * u64 size; leaf 0x03): {@code len‖"image" 03 len‖"image" 03 len‖bytes len‖"model_id" 03 len‖model}. An image
         * that PIL did not open as RGB carries vLLM's {@code io_config} (PR #49975) and hashes the mapping
         * {@code {"io_config": {"image_mode": "RGB", "rgba_background_color": (255, 255, 255)}, "data": bytes}} in the
         * bytes' place. Checked byte for byte against vLLM's framed {@code hasher.py} ({@code goldens_framed.json}).
         */
        FRAMED("framed", true, false);

        private final String cliName;
        private final boolean sorted;
        private final boolean truncation;

        Format(String cliName, boolean sorted, boolean truncation) {
            this.cliName = cliName;
            this.sorted = sorted;
            this.truncation = truncation;
        }

        public String cliName() {
            return cliName;
        }

        /**
         * Whether this era's chat path hashes extra inputs ({@code truncation=False}) with every item. vLLM uses a
         * client {@code uuid} verbatim only when there are none; in these eras it hashes the uuid in the image's
         * place instead, so the EC key is {@link #uuidKey} and never the uuid itself.
         */
        public boolean hashesUuid() {
            return truncation;
        }

        /** {@code --mm-hash-format}: the cli name or the constant's name, case-insensitive. */
        public static Format parse(String name) {
            String lower = name == null ? "" : name.toLowerCase(Locale.ROOT);
            for (Format f : values()) {
                if (f.cliName.equals(lower) || f.name().toLowerCase(Locale.ROOT).equals(lower)) {
                    return f;
                }
            }
            throw new IllegalArgumentException("unsupported --mm-hash-format " + name
                    + " (accepted: unframed-truncation, sorted-truncation, unframed, sorted, sorted-ioconfig, framed)");
        }

        /**
         * The chat-path format of a vLLM built from {@code main} on {@code date} (a release: the date its branch was
         * cut). Dates before the image-bytes hashing get {@link #UNFRAMED_TRUNCATION}, which is then still wrong
         * (vLLM hashed pixels): such a vLLM needs uuids.
         */
        public static Format forVllmDate(java.time.LocalDate date) {
            if (date.isBefore(java.time.LocalDate.of(2026, 2, 6))) {
                return UNFRAMED_TRUNCATION;
            }
            if (date.isBefore(java.time.LocalDate.of(2026, 2, 17))) {
                return SORTED_TRUNCATION;
            }
            if (date.isBefore(IO_CONFIG_DATE)) {
                return UNFRAMED_SORTED;
            }
            if (date.isBefore(FRAMING_DATE)) {
                return SORTED_IO_CONFIG;
            }
            return FRAMED;
        }

        /**
         * The chat-path format of a vLLM release, {@code v0.32.0} or {@code 0.32.0}. Only releases whose hashing was
         * read in that release's own {@code MultiModalHasher} source (the API reference published for the tag,
         * {@code docs.vllm.ai/en/<tag>/api/vllm/multimodal/}) are mapped; every other release is refused with what is
         * known of it, so that a guessed mapping never silently keys EC files differently from vLLM.
         *
         * <ul>
         *   <li>v0.32.0: framed. Its {@code MultiModalHasher} says "every method here yields framed chunks: each
         *       chunk is preceded by its length and each container by its kind" (PR #54283) and frames a bytes leaf
         *       with {@code _framed(obj)}. The byte layout of {@link #FRAMED} is pinned by goldens made with a whole
         *       framed {@code hasher.py} whose opening is the one v0.32.0's API reference publishes (the rest of
         *       v0.32.0's own file was not readable, so that the two files are one is inferred, not seen).
         *   <li>v0.12.0 (and, older still, v0.9.0 and v0.9.2): the image's decoded pixels are hashed
         *       ({@code serialize_item} has no {@code MediaWithBytes} branch: PR #29621 is not in it). No format
         *       matches; such a vLLM needs client {@code uuid}s. Every release numbered below v0.12.0 is older than it.
         *   <li>v0.15.0: image bytes are hashed ({@code serialize_item} has the {@code MediaWithBytes} branch of PR
         *       #29621), but whether its kwargs are sorted (PR #33817) and still carry {@code truncation=False} (until
         *       PR #34711) was not read: not mapped.
         * </ul>
         *
         * @throws IllegalArgumentException for a string that is no release, or a release that is not mapped
         */
        public static Format forVllmRelease(String release) {
            java.util.regex.Matcher m = RELEASE.matcher(release == null ? "" : release.trim());
            if (!m.matches()) {
                throw new IllegalArgumentException(
                        "'" + release + "' is no vLLM release: expected vX.Y.Z or X.Y.Z (e.g. v0.32.0)");
            }
            int major = Integer.parseInt(m.group(1));
            int minor = Integer.parseInt(m.group(2));
            int patch = Integer.parseInt(m.group(3));
            String tag = "v" + major + "." + minor + "." + patch;
            if (major == 0 && minor == 32 && patch == 0) {
                return FRAMED;
            }
            if (major == 0 && (minor < 12 || (minor == 12 && patch == 0))) {
                throw new IllegalArgumentException("vLLM " + tag + " hashes an image's decoded pixels, not its bytes"
                        + " (v0.12.0's MultiModalHasher has no image-bytes path; PR #29621 came later): no"
                        + " --mm-hash-format matches it, so send a uuid with each image");
            }
            if (major == 0 && minor == 15 && patch == 0) {
                throw new IllegalArgumentException("vLLM v0.15.0 is not mapped: it hashes image bytes (PR #29621),"
                        + " but whether it sorts the kwargs (PR #33817) and still hashes truncation=False (until PR"
                        + " #34711) was not checked; give --vllm-compat with the date its release branch was cut, or"
                        + " --mm-hash-format");
            }
            throw new IllegalArgumentException("vLLM " + tag + " is not mapped to a hash format (mapped: v0.32.0 ->"
                    + " framed; v0.12.0 and older hash pixels and need uuids); give --vllm-compat with the date of"
                    + " its main commit or release-branch cut (YYYY-MM-DD), or --mm-hash-format");
        }

        /**
         * Whether an image that PIL does not open as RGB hashes its {@code io_config} along with its bytes (vLLM PR
         * #49975 and later): {@link #SORTED_IO_CONFIG} and {@link #FRAMED}.
         */
        public boolean hashesIoConfig() {
            return this == SORTED_IO_CONFIG || this == FRAMED;
        }

        /** Whether {@code s} is spelled as a release ({@code vX.Y.Z} or {@code X.Y.Z}) rather than a date. */
        public static boolean isVllmRelease(String s) {
            return s != null && RELEASE.matcher(s.trim()).matches();
        }
    }

    /** A vLLM release tag, with or without its leading {@code v}. */
    private static final java.util.regex.Pattern RELEASE =
            java.util.regex.Pattern.compile("v?(\\d{1,4})\\.(\\d{1,4})\\.(\\d{1,4})");

    /**
     * First day taken as hashing the {@code io_config}: vLLM PR #49975 was merged on 2026-07-29 (commit aeaa50a71c,
     * 10:48 UTC), so a {@code main} built earlier that day still hashes without it.
     */
    private static final java.time.LocalDate IO_CONFIG_DATE = java.time.LocalDate.of(2026, 7, 29);

    /**
     * First day taken as framed: vLLM's framing PR #54283 (opened 2026-08-28) was still being rebased on 2026-09-14;
     * its exact merge day was not at hand, so a vLLM built within days of this needs a check.
     */
    private static final java.time.LocalDate FRAMING_DATE = java.time.LocalDate.of(2026, 9, 15);

    /**
     * The hex digest that vLLM uses as the item's identifier (and so as the EC directory name), for an image that PIL
     * opens as RGB ({@link #key(String, byte[], boolean)} with {@code false}).
     */
    public String key(String modelName, byte[] originalImageBytes) {
        return key(modelName, originalImageBytes, false);
    }

    /**
     * The hex digest that vLLM uses as the item's identifier (and so as the EC directory name).
     *
     * @param convertedToRgb whether PIL opens the bytes in a mode other than RGB, so that vLLM's image loader converts
     *     them with its default {@code image_mode} and {@code rgba_background_color}. Since vLLM PR #49975 such an
     *     image carries those settings ({@code MediaWithBytes.io_config}) into the hash; {@link Format#SORTED_IO_CONFIG}
     *     and {@link Format#FRAMED} hash them as vLLM does ({@link Format#hashesIoConfig}). The older formats ignore
     *     it: they match vLLM before that PR.
     */
    public String key(String modelName, byte[] originalImageBytes, boolean convertedToRgb) {
        if (modelName == null || originalImageBytes == null) {
            throw new IllegalArgumentException("model name and image bytes are required");
        }
        if (format == Format.FRAMED && convertedToRgb) {
            return framedDigest(modelName, sink -> framedIoConfigImage(sink, originalImageBytes));
        }
        if (format == Format.SORTED_IO_CONFIG && convertedToRgb) {
            // iter_item_to_bytes("image", {"io_config": {...}, "data": bytes}) without framing: dotted keys and leaves.
            byte[] background = u64(BACKGROUND); // np.array(255).tobytes(): int64, little-endian
            return digest(modelName, new byte[][] {
                FLAT_IMAGE_MODE,
                RGB,
                flatBackgroundKey(0),
                background,
                flatBackgroundKey(1),
                background,
                flatBackgroundKey(2),
                background,
                FLAT_DATA,
                originalImageBytes
            });
        }
        // MediaWithBytes: the kwarg "image" holds the nested pair ("image", original_bytes).
        return digest(modelName, new byte[][] {IMAGE, originalImageBytes});
    }

    /**
     * The identifier vLLM computes for an item whose client {@code uuid} it hashes rather than uses verbatim: the uuid
     * (a str, serialized as UTF-8) takes the image's place, {@code image=<uuid>}.
     */
    public String uuidKey(String modelName, String uuid) {
        if (modelName == null || uuid == null) {
            throw new IllegalArgumentException("model name and uuid are required");
        }
        return digest(modelName, new byte[][] {uuid.getBytes(StandardCharsets.UTF_8)});
    }

    /**
     * @param image the value chunks of the {@code image} kwarg: {@code {"image", bytes}} for a MediaWithBytes (a key
     *     and its leaf), {@code {uuid}} for a plain string leaf; in the unframed formats, the flattened
     *     {@code io_config} pairs too. The framed formats read only the first and the last chunk.
     */
    private String digest(String modelName, byte[][] image) {
        if (format == Format.FRAMED) {
            return framedDigest(modelName, sink -> {
                // A MediaWithBytes leaf is serialized as the pair "image" -> leaf bytes; a str uuid is one leaf.
                if (image.length == 2) {
                    framed(sink, image[0]);
                    sink.update(new byte[] {TAG_LEAF});
                }
                framed(sink, image[image.length - 1]);
            });
        }
        byte[] model = modelName.getBytes(StandardCharsets.UTF_8);
        Sink sink = Sink.of(algorithm);
        Runnable modelKwarg = () -> {
            sink.update(MODEL_ID);
            sink.update(model);
        };
        Runnable imageKwarg = () -> {
            sink.update(IMAGE);
            for (byte[] chunk : image) {
                sink.update(chunk);
            }
        };
        // "image" < "model_id" < "truncation"; call order is model_id, image, then the tokenizer kwargs.
        if (format.sorted) {
            imageKwarg.run();
            modelKwarg.run();
        } else {
            modelKwarg.run();
            imageKwarg.run();
        }
        if (format.truncation) {
            sink.update(TRUNCATION);
            sink.update(new byte[] {0}); // np.array(False).tobytes()
        }
        return Hex.encodeHexString(sink.digest());
    }

    /**
     * vLLM's framed {@code hash_kwargs(model_id=..., image=...)}: the kwargs in sorted order ("image" < "model_id"),
     * each as its framed key and its tagged value; {@code imageLeaf} writes what {@code serialize_item} yields for the
     * image value after its leaf tag.
     */
    private String framedDigest(String modelName, java.util.function.Consumer<Sink> imageLeaf) {
        Sink sink = Sink.of(algorithm);
        framed(sink, IMAGE);
        sink.update(new byte[] {TAG_LEAF});
        imageLeaf.accept(sink);
        framed(sink, MODEL_ID);
        sink.update(new byte[] {TAG_LEAF});
        framed(sink, modelName.getBytes(StandardCharsets.UTF_8));
        return Hex.encodeHexString(sink.digest());
    }

    /**
     * {@code serialize_item(MediaWithBytes)} with an {@code io_config}: {@code iter_item_to_bytes("image",
     * {"io_config": io_config, "data": original_bytes})}, the dicts in insertion order.
     */
    private static void framedIoConfigImage(Sink sink, byte[] bytes) {
        framed(sink, IMAGE);
        mapping(sink, 2);
        framed(sink, IO_CONFIG);
        mapping(sink, 2);
        framed(sink, IMAGE_MODE);
        sink.update(new byte[] {TAG_LEAF});
        framed(sink, RGB);
        framed(sink, RGBA_BACKGROUND_COLOR);
        sink.update(new byte[] {TAG_SEQUENCE});
        sink.update(u64(3));
        for (int c = 0; c < 3; c++) {
            sink.update(new byte[] {TAG_LEAF});
            framed(sink, u64(BACKGROUND)); // np.array(255).tobytes(): int64, little-endian
        }
        framed(sink, DATA);
        sink.update(new byte[] {TAG_LEAF});
        framed(sink, bytes);
    }

    private static byte[] flatBackgroundKey(int channel) {
        return ascii("image.io_config.rgba_background_color." + channel);
    }

    private static void mapping(Sink sink, int entries) {
        sink.update(new byte[] {TAG_MAPPING});
        sink.update(u64(entries));
    }

    private static void framed(Sink sink, byte[] chunk) {
        sink.update(u64(chunk.length));
        sink.update(chunk);
    }

    private static byte[] u64(long value) {
        return ByteBuffer.allocate(8)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(value)
                .array();
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
