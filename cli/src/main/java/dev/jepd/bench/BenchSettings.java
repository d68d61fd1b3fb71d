package dev.jepd.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * What {@code jepd bench model} measures and how often.
 *
 * @param imageSize the synthetic square image's side in pixels (448 → a 32 × 32 patch grid)
 * @param promptTokens prefill length, and the context every decode step attends to
 * @param decodeTokens timed decode steps per batch size (after {@code warmup} untimed ones)
 * @param decodeBatches the batch sizes decode runs at
 * @param warmup untimed runs before the timed ones
 * @param iterations timed runs of the limits, the vision tower and prefill
 * @param fullTextLayers the depth to extrapolate the decoder to (Qwen2.5-VL-3B: 36)
 * @param fullVisionBlocks the depth to extrapolate the vision tower to (Qwen2.5-VL-3B: 32)
 * @param backend the tensor backend: {@code torch} (libtorch's C ABI; DJL's JNI backend is gone)
 * @param dtype the compute dtype, {@code float32} or {@code bfloat16}
 * @param device where the model runs: {@code cpu} or {@code cuda:N}
 * @param fullDeepstackLevels the DeepStack mergers of the full model (Qwen3-VL-4B: 3), for the estimate when the
 *     shortened tower keeps fewer
 */
public record BenchSettings(
        @JsonProperty("image_size") int imageSize,
        @JsonProperty("prompt_tokens") int promptTokens,
        @JsonProperty("decode_tokens") int decodeTokens,
        @JsonProperty("decode_batches") List<Integer> decodeBatches,
        @JsonProperty("warmup") int warmup,
        @JsonProperty("iterations") int iterations,
        @JsonProperty("full_text_layers") int fullTextLayers,
        @JsonProperty("full_vision_blocks") int fullVisionBlocks,
        @JsonProperty("backend") String backend,
        @JsonProperty("dtype") String dtype,
        @JsonProperty("device") String device,
        @JsonProperty("full_deepstack_levels") int fullDeepstackLevels) {

    public static final int QWEN25_VL_3B_TEXT_LAYERS = 36;
    public static final int QWEN25_VL_3B_VISION_BLOCKS = 32;

    public BenchSettings {
        positive("image size", imageSize);
        positive("prompt tokens", promptTokens);
        positive("decode tokens", decodeTokens);
        positive("iterations", iterations);
        if (warmup < 0) {
            throw new IllegalArgumentException("warmup must not be negative, got " + warmup);
        }
        if (!backend.equals("torch")) {
            throw new IllegalArgumentException("backend must be torch (DJL's JNI backend was removed), got " + backend);
        }
        if (!dtype.equals("float32") && !dtype.equals("bfloat16")) {
            throw new IllegalArgumentException("dtype must be float32 or bfloat16, got " + dtype);
        }
        dev.jepd.tensor.Device d = dev.jepd.tensor.Device.parse(device); // refuses a malformed one
        device = d.toString();
        if (fullDeepstackLevels < 0) {
            throw new IllegalArgumentException("DeepStack levels must not be negative, got " + fullDeepstackLevels);
        }
        decodeBatches = List.copyOf(decodeBatches);
        for (int b : decodeBatches) {
            positive("decode batch", b);
        }
    }

    /** On libtorch in float32 on the CPU. */
    public BenchSettings(
            int imageSize,
            int promptTokens,
            int decodeTokens,
            List<Integer> decodeBatches,
            int warmup,
            int iterations,
            int fullTextLayers,
            int fullVisionBlocks) {
        this(
                imageSize,
                promptTokens,
                decodeTokens,
                decodeBatches,
                warmup,
                iterations,
                fullTextLayers,
                fullVisionBlocks,
                "torch",
                "float32",
                "cpu",
                0);
    }

    /** On the CPU, as before a device could be chosen. */
    public BenchSettings(
            int imageSize,
            int promptTokens,
            int decodeTokens,
            List<Integer> decodeBatches,
            int warmup,
            int iterations,
            int fullTextLayers,
            int fullVisionBlocks,
            String backend,
            String dtype) {
        this(
                imageSize,
                promptTokens,
                decodeTokens,
                decodeBatches,
                warmup,
                iterations,
                fullTextLayers,
                fullVisionBlocks,
                backend,
                dtype,
                "cpu",
                0);
    }

    /** True when the model runs on an accelerator (the limits then use {@link BackendLimits.Sizes#device}). */
    boolean onDevice() {
        return !device.equals("cpu");
    }

    /** Bytes one weight takes in the compute dtype. */
    int bytesPerWeight() {
        return dtype.equals("bfloat16") ? 2 : 4;
    }

    public static BenchSettings defaults() {
        return new BenchSettings(
                448, 512, 64, List.of(1, 8), 1, 5, QWEN25_VL_3B_TEXT_LAYERS, QWEN25_VL_3B_VISION_BLOCKS);
    }

    int maxDecodeBatch() {
        return decodeBatches.stream().mapToInt(Integer::intValue).max().orElse(1);
    }

    private static void positive(String what, int v) {
        if (v < 1) {
            throw new IllegalArgumentException(what + " must be at least 1, got " + v);
        }
    }
}
