package dev.jepd.transfer.ec;

/**
 * The EC key of one multimodal item (DESIGN §4.2). Keys become directory names under the shared storage path, so a
 * client's {@code uuid} is accepted only when it is a harmless single path component.
 */
public final class EcKeys {
    /** Most file systems cap one name at 255 bytes; the allowed characters are all one byte. */
    public static final int MAX_UUID_LENGTH = 255;

    private EcKeys() {}

    /**
     * Checks that a client {@code uuid} can be a directory name: only {@code [A-Za-z0-9._-]}, 1 to 255 characters, not
     * {@code .} or {@code ..} and no {@code ..} anywhere (so no traversal even after naive joins elsewhere). Returns the
     * uuid unchanged.
     *
     * @throws InvalidEcKeyException with the reason; the caller answers HTTP 400 naming the uuid's JSON path
     */
    public static String requireSafeUuid(String uuid) {
        String reason = unsafeReason(uuid);
        if (reason != null) {
            throw new InvalidEcKeyException(uuid, reason);
        }
        return uuid;
    }

    public static boolean isSafeUuid(String uuid) {
        return unsafeReason(uuid) == null;
    }

    /** Why {@code uuid} cannot be a key, or null when it can. */
    static String unsafeReason(String uuid) {
        if (uuid == null) {
            return "it is null";
        }
        if (uuid.isEmpty()) {
            return "it is empty";
        }
        if (uuid.length() > MAX_UUID_LENGTH) {
            return "it has " + uuid.length() + " characters, at most " + MAX_UUID_LENGTH + " are allowed";
        }
        for (int i = 0; i < uuid.length(); i++) {
            char c = uuid.charAt(i);
            boolean ok = (c >= 'A' && c <= 'Z')
                    || (c >= 'a' && c <= 'z')
                    || (c >= '0' && c <= '9')
                    || c == '.'
                    || c == '_'
                    || c == '-';
            if (!ok) {
                return "character " + describe(c) + " at index " + i + " is not one of [A-Za-z0-9._-]";
            }
        }
        if (uuid.equals(".") || uuid.equals("..")) {
            return "it names the current or parent directory";
        }
        if (uuid.contains("..")) {
            // Harmless as one path component, but refused so that no store or tool that joins keys naively
            // (string concatenation, URL paths) can be steered upwards.
            return "it contains \"..\"";
        }
        return null;
    }

    /** {@link #forItem(MmHasher, String, boolean, String, byte[])} with vLLM's default hasher settings. */
    public static String forItem(String uuid, boolean hasProcessorOrMediaKwargs, String model, byte[] bytes) {
        return forItem(MmHasher.DEFAULT, uuid, hasProcessorOrMediaKwargs, model, bytes);
    }

    /**
     * DESIGN §4.2: a content part's {@code uuid} is the key verbatim when the request sets no
     * {@code mm_processor_kwargs} / {@code media_io_kwargs}; otherwise (and when there is no uuid) the key is the
     * mm_hash of the model string and the item's original bytes. A present uuid is validated in both cases, so an
     * unsafe one is a 400 whatever the kwargs.
     *
     * <p>In the eras whose chat path hashed {@code truncation=False} with every item ({@link
     * MmHasher.Format#hashesUuid()}), a uuid is never the key: vLLM hashed it in the image's place, and so does this.
     *
     * <p>With kwargs, vLLM's own identifier also covers the kwargs (and newer vLLM hashes the uuid instead of the
     * bytes), so such keys are JEPD-local; JEPD↔vLLM mixing relies on the proxy's uuid stamping instead.
     */
    public static String forItem(
            MmHasher hasher, String uuid, boolean hasProcessorOrMediaKwargs, String model, byte[] bytes) {
        return forItem(hasher, uuid, hasProcessorOrMediaKwargs, model, bytes, false);
    }

    /**
     * As {@link #forItem(MmHasher, String, boolean, String, byte[])}, for an image that PIL opens in a mode other
     * than RGB when {@code convertedToRgb} (see {@link MmHasher#key(String, byte[], boolean)}).
     */
    public static String forItem(
            MmHasher hasher,
            String uuid,
            boolean hasProcessorOrMediaKwargs,
            String model,
            byte[] bytes,
            boolean convertedToRgb) {
        if (uuid != null) {
            requireSafeUuid(uuid);
            if (hasher.format().hashesUuid()) {
                // The era's chat path always hashed extra inputs (truncation=False), so vLLM never used a uuid
                // verbatim.
                return hasher.uuidKey(model, uuid);
            }
            if (!hasProcessorOrMediaKwargs) {
                return uuid;
            }
        }
        if (bytes == null) {
            throw new IllegalArgumentException("an item without media bytes needs a uuid (and no processor kwargs)");
        }
        return hasher.key(model, bytes, convertedToRgb);
    }

    private static String describe(char c) {
        return c >= 0x20 && c < 0x7F ? "'" + c + "'" : String.format("U+%04X", (int) c);
    }
}
