package dev.jepd.serving;

import dev.jepd.api.ApiException;
import dev.jepd.api.MediaErrors;
import dev.jepd.media.MediaException;
import dev.jepd.media.PixelBounds;
import dev.jepd.media.RgbImage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs the vision tower on one thread and batches images that arrive together: whatever is queued when
 * the tower becomes free (up to {@code maxBatchImages}, same pixel bounds) runs as one forward pass.
 */
public final class EncodeBatcher implements AutoCloseable {
    private record Job(RgbImage image, PixelBounds bounds, CompletableFuture<EncodedImage> result) {}

    private final ModelRuntime runtime;
    private final int maxBatchImages;
    private final LinkedBlockingDeque<Job> queue = new LinkedBlockingDeque<>();
    private final Thread worker;
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong images = new AtomicLong();
    private final AtomicLong largestBatch = new AtomicLong();
    private volatile boolean running = true;

    public EncodeBatcher(ModelRuntime runtime, int maxBatchImages) {
        this.runtime = runtime;
        this.maxBatchImages = maxBatchImages;
        this.worker = Thread.ofPlatform().name("jepd-encoder").daemon().start(this::loop);
    }

    public CompletableFuture<EncodedImage> submit(RgbImage image, PixelBounds bounds) {
        CompletableFuture<EncodedImage> f = new CompletableFuture<>();
        if (!running) {
            f.completeExceptionally(new IllegalStateException("encoder is shut down"));
            return f;
        }
        queue.add(new Job(image, bounds, f));
        return f;
    }

    public long batches() {
        return batches.get();
    }

    public long images() {
        return images.get();
    }

    public long largestBatch() {
        return largestBatch.get();
    }

    private void loop() {
        while (running) {
            Job first;
            try {
                first = queue.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                return;
            }
            if (first == null) {
                continue;
            }
            List<Job> batch = new ArrayList<>(List.of(first));
            List<Job> later = new ArrayList<>();
            for (Job j; batch.size() < maxBatchImages && (j = queue.poll()) != null; ) {
                (j.bounds().equals(first.bounds()) ? batch : later).add(j);
            }
            // Other bounds go back to the front of the line, in arrival order, for the next pass.
            for (int i = later.size() - 1; i >= 0; i--) {
                queue.addFirst(later.get(i));
            }
            run(batch);
        }
    }

    private void run(List<Job> batch) {
        try {
            List<RgbImage> imgs = batch.stream().map(Job::image).toList();
            List<EncodedImage> out = runtime.encode(imgs, batch.getFirst().bounds());
            batches.incrementAndGet();
            images.addAndGet(batch.size());
            largestBatch.accumulateAndGet(batch.size(), Math::max);
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).result().complete(out.get(i));
            }
        } catch (RuntimeException | Error e) {
            for (Job j : batch) {
                j.result().completeExceptionally(e);
            }
        }
    }

    /**
     * Waits for one image's embedding; a media failure becomes the request's 400, an interrupt a 503, and an
     * encoder failure is rethrown as is.
     */
    public static EncodedImage join(CompletableFuture<EncodedImage> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "interrupted while encoding", null);
        } catch (ExecutionException | CompletionException e) {
            Throwable c = e.getCause();
            if (c instanceof MediaException me) {
                throw MediaErrors.toApi(me, null);
            }
            if (c instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(c);
        }
    }

    @Override
    public void close() {
        running = false;
        worker.interrupt();
        for (Job j; (j = queue.poll()) != null; ) {
            j.result().completeExceptionally(new IllegalStateException("encoder is shut down"));
        }
    }
}
