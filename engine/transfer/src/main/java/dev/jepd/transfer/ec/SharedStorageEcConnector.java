package dev.jepd.transfer.ec;

import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcMissReason;
import dev.jepd.engine.connector.EcStoreException;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.engine.safetensors.DType;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The EC store as a directory shared by encoder and prefill/decode nodes, byte-compatible with vLLM's
 * {@code ECExampleConnector}: {@code <root>/<key>/encoder_cache.safetensors}, one tensor {@code ec_cache}
 * {@code [num_tokens, D]}. Unlike vLLM it writes atomically (temporary file in the key's directory, then rename), does
 * not create directories on lookups, and can cap the bytes it keeps with LRU eviction.
 *
 * <p>The LRU index covers what this connector has seen: the entries present at start-up (ordered by file mtime), its
 * own saves and its load hits. Entries that other nodes write count once this connector has seen them.
 */
public final class SharedStorageEcConnector extends CountingEcConnector {
    private static final Logger LOG = LoggerFactory.getLogger(SharedStorageEcConnector.class);
    /** Saves and evictions of one key serialize on its stripe; unrelated keys rarely share one. */
    private static final int LOCK_STRIPES = 64;
    /** Bounds the memory spent on warn-once bookkeeping when a directory is full of foreign files. */
    private static final int WARNED_REMEMBERED = 4096;
    /** A writer that loses its key directory to a concurrent eviction recreates it and tries again. */
    private static final int WRITE_ATTEMPTS = 5;

    private final Path root;
    private final DType dtype;
    private final long capacityBytes;
    private final ReentrantLock[] stripes = new ReentrantLock[LOCK_STRIPES];
    // Access-ordered, so iteration starts at the least recently used key; key -> file bytes. Guarded by itself.
    private final LinkedHashMap<String, Long> index = new LinkedHashMap<>(64, 0.75f, true);
    private long indexedBytes; // guarded by index
    private final Map<String, Boolean> warned = new LinkedHashMap<>(64, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > WARNED_REMEMBERED;
        }
    };

    /**
     * @param dtype how entries are written (BF16 for Qwen checkpoints; F16 and F32 also); reads accept all three
     * @param capacityBytes empty for no limit
     * @throws EcStoreException when {@code root} cannot be created or listed
     */
    public SharedStorageEcConnector(Path root, DType dtype, OptionalLong capacityBytes) {
        if (dtype != DType.BF16 && dtype != DType.F16 && dtype != DType.F32) {
            throw new IllegalArgumentException("EC entries are stored as BF16, F16 or F32, not " + dtype);
        }
        if (capacityBytes.isPresent() && capacityBytes.getAsLong() <= 0) {
            throw new IllegalArgumentException("capacity must be positive, got " + capacityBytes.getAsLong());
        }
        this.root = root.toAbsolutePath().normalize();
        this.dtype = dtype;
        this.capacityBytes = capacityBytes.orElse(Long.MAX_VALUE);
        for (int i = 0; i < stripes.length; i++) {
            stripes[i] = new ReentrantLock();
        }
        try {
            Files.createDirectories(this.root);
        } catch (IOException e) {
            throw new EcStoreException("cannot create EC store directory " + this.root + ": " + e, e);
        }
        scan();
        evictAll(pickVictims(null));
    }

    /** The store described by {@code --ec-transfer-config}, writing entries as {@code dtype}. */
    public static SharedStorageEcConnector open(EcTransferConfig config, DType dtype) {
        return new SharedStorageEcConnector(config.sharedStoragePath(), dtype, config.capacityBytes());
    }

    public Path root() {
        return root;
    }

    public DType dtype() {
        return dtype;
    }

    /** Empty when unlimited. */
    public OptionalLong capacityBytes() {
        return capacityBytes == Long.MAX_VALUE ? OptionalLong.empty() : OptionalLong.of(capacityBytes);
    }

    /** {@code <root>/<key>/encoder_cache.safetensors}. */
    public Path fileOf(String key) {
        return root.resolve(EcKeys.requireSafeUuid(key)).resolve(EcFile.FILE_NAME);
    }

    @Override
    public boolean contains(String key) {
        return Files.isRegularFile(fileOf(key));
    }

    @Override
    public Optional<EcEntry> load(String key, int expectedTokens, int expectedDim) {
        return lookup(key, expectedTokens, expectedDim) instanceof EcFile.Hit hit
                ? Optional.of(hit.entry())
                : Optional.empty();
    }

    /** {@link #load} with the reason for a miss; counts and logs the same way. */
    EcFile.Result lookup(String key, int expectedTokens, int expectedDim) {
        Path file = fileOf(key);
        if (expectedTokens <= 0 || expectedDim <= 0) {
            throw new IllegalArgumentException(
                    "expected shape must be positive, got [" + expectedTokens + ", " + expectedDim + "]");
        }
        EcFile.Result result = EcFile.read(file, key, expectedTokens, expectedDim);
        switch (result) {
            case EcFile.Hit hit -> {
                hits.incrementAndGet();
                synchronized (index) {
                    account(key, hit.fileBytes());
                }
            }
            case EcFile.Miss miss -> {
                misses.incrementAndGet();
                if (miss.reason() == EcMissReason.ABSENT) {
                    // Normal: not encoded yet, or deleted by another node; forget it if we still counted it.
                    synchronized (index) {
                        Long gone = index.remove(key);
                        indexedBytes -= gone == null ? 0 : gone;
                    }
                    LOG.debug("EC miss {}: {}", key, miss.detail());
                } else {
                    warnOnce(key, file, miss);
                }
            }
        }
        return result;
    }

    /** Shared storage needs only the key: {@code params} (always {@link EcTransferParams#none()} here) are unused. */
    @Override
    public Optional<EcEntry> lookup(String key, EcTransferParams params, int expectedTokens, int expectedDim) {
        return load(key, expectedTokens, expectedDim);
    }

    /** Every node sharing the directory finds the entry by its key, so the answer is {@link EcTransferParams#none()}. */
    @Override
    public EcTransferParams publish(String key, float[] rows, int numTokens, int dim) {
        save(key, rows, numTokens, dim);
        return EcTransferParams.none();
    }

    @Override
    public void save(String key, float[] rows, int numTokens, int dim) {
        Path file = fileOf(key);
        if (numTokens <= 0 || dim <= 0 || rows == null || rows.length != (long) numTokens * dim) {
            throw new IllegalArgumentException("EC entry " + key + " of shape [" + numTokens + ", " + dim + "] needs "
                    + (long) numTokens * dim + " values, got " + (rows == null ? "null" : rows.length));
        }
        long dataBytes = (long) numTokens * dim * dtype.byteSize();
        if (dataBytes > capacityBytes) {
            // Kept, it alone would push the store past capacity_bytes: refused, the consumer encodes it itself.
            throw new EcStoreException(
                    "EC entry " + key + " needs " + dataBytes + " bytes, more than the store's" + " capacity_bytes "
                            + capacityBytes,
                    null);
        }
        long fileBytes;
        ReentrantLock stripe = stripe(key);
        stripe.lock();
        try {
            fileBytes = writeWithRetry(file, rows, numTokens, dim);
        } catch (EcStoreException e) {
            removeIfEmpty(file.getParent());
            throw e;
        } finally {
            stripe.unlock();
        }
        saves.incrementAndGet();
        List<String> victims;
        synchronized (index) {
            account(key, fileBytes);
            victims = pickVictims(key);
        }
        evictAll(victims);
    }

    private long writeWithRetry(Path file, float[] rows, int numTokens, int dim) {
        for (int attempt = 1; ; attempt++) {
            try {
                long dataBytes = EcFile.write(file, rows, numTokens, dim, dtype);
                try {
                    return Files.size(file);
                } catch (IOException e) {
                    return dataBytes; // already replaced or removed by another node; the estimate is close
                }
            } catch (NoSuchFileException | FileAlreadyExistsException e) {
                // Another node evicted the key's directory while we made it (createDirectories then finds it neither
                // created nor present) or before our temporary file or rename landed in it: make it again.
                if (attempt == WRITE_ATTEMPTS) {
                    throw new EcStoreException("cannot write EC entry " + file + ": " + e, e);
                }
            } catch (IOException e) {
                throw new EcStoreException("cannot write EC entry " + file + ": " + e, e);
            }
        }
    }

    /** A failed write leaves no key directory behind it made (AtomicFiles already removed its temporary file). */
    private static void removeIfEmpty(Path dir) {
        try {
            if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                Files.deleteIfExists(dir); // only when empty
            }
        } catch (IOException | RuntimeException ignored) {
            // not empty (another writer, an old entry) or not a directory: not ours to remove
        }
    }

    /** Records {@code key} as most recently used with its size. Caller holds the index lock. */
    private void account(String key, long fileBytes) {
        Long old = index.put(key, fileBytes);
        indexedBytes += fileBytes - (old == null ? 0 : old);
    }

    /**
     * Removes least recently used entries from the index until it fits the capacity, never {@code keep} (the entry
     * just written). Returns them for {@link #evict}, which deletes their files outside the index lock.
     */
    private List<String> pickVictims(String keep) {
        List<String> victims = new ArrayList<>();
        synchronized (index) {
            var it = index.entrySet().iterator();
            while (indexedBytes > capacityBytes && it.hasNext()) {
                Map.Entry<String, Long> e = it.next();
                if (e.getKey().equals(keep)) {
                    continue;
                }
                indexedBytes -= e.getValue();
                victims.add(e.getKey());
                it.remove();
            }
        }
        return victims;
    }

    private void evictAll(List<String> victims) {
        for (String victim : victims) {
            evict(victim);
        }
    }

    /** Deletes a victim's file, then its directory, unless it was saved or hit again since it was picked. */
    private void evict(String victim) {
        ReentrantLock stripe = stripe(victim);
        stripe.lock();
        try {
            synchronized (index) {
                if (index.containsKey(victim)) {
                    return; // used again after it was picked: it is recent now
                }
            }
            Path dir = root.resolve(victim);
            Files.deleteIfExists(dir.resolve(EcFile.FILE_NAME));
            try {
                Files.deleteIfExists(dir);
            } catch (DirectoryNotEmptyException e) {
                // A writer on another node has a temporary file there; its rename will recreate the entry.
            }
            evictions.incrementAndGet();
            LOG.debug("EC evicted {}", victim);
        } catch (IOException e) {
            LOG.warn("EC eviction of {} failed: {}", victim, e.toString());
        } finally {
            stripe.unlock();
        }
    }

    /** Indexes the entries already in the directory, least recently modified first. */
    private void scan() {
        record Found(String key, long bytes, long mtime) {}
        List<Found> found = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root)) {
            for (Path dir : dirs) {
                try {
                    BasicFileAttributes a = Files.readAttributes(
                            dir.resolve(EcFile.FILE_NAME), BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    if (a.isRegularFile()) {
                        found.add(new Found(
                                dir.getFileName().toString(),
                                a.size(),
                                a.lastModifiedTime().toMillis()));
                    }
                } catch (IOException e) {
                    // Not an entry (a stray file, an empty directory vLLM made on a miss): nothing to account.
                }
            }
        } catch (IOException e) {
            throw new EcStoreException("cannot list EC store directory " + root + ": " + e, e);
        }
        found.sort(Comparator.comparingLong(Found::mtime).thenComparing(Found::key));
        synchronized (index) {
            for (Found f : found) {
                account(f.key(), f.bytes());
            }
        }
        LOG.info(
                "EC store {}: {} entries, {} bytes, capacity {}",
                root,
                found.size(),
                bytesStored(),
                capacityBytes().isPresent() ? capacityBytes().getAsLong() + " bytes" : "unlimited");
    }

    private void warnOnce(String key, Path file, EcFile.Miss miss) {
        boolean first;
        synchronized (warned) {
            first = warned.put(key + '\0' + miss.reason(), Boolean.TRUE) == null;
        }
        if (first) {
            LOG.warn("EC miss for {}: {} ({}); the item will be re-encoded", file, miss.reason(), miss.detail());
        }
    }

    private ReentrantLock stripe(String key) {
        return stripes[Math.floorMod(key.hashCode(), stripes.length)];
    }

    /** Keys from least to most recently used, for tests and diagnostics. */
    List<String> lruOrder() {
        synchronized (index) {
            return List.copyOf(index.keySet());
        }
    }

    @Override
    public long bytesStored() {
        synchronized (index) {
            return indexedBytes;
        }
    }
}
