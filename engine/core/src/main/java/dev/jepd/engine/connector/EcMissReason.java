package dev.jepd.engine.connector;

/** Why a lookup in the EC store found no usable entry. Only {@link #ABSENT} is normal operation. */
public enum EcMissReason {
    /** No directory, or a directory without the file (vLLM's consumer creates empty directories on a miss). */
    ABSENT,
    /** Truncated, not safetensors, or a header that fails validation. */
    MALFORMED,
    /** A valid file without a tensor named {@code ec_cache}. */
    NO_TENSOR,
    /** {@code ec_cache} is not BF16, F16 or F32. */
    WRONG_DTYPE,
    /** {@code ec_cache} is not {@code [expectedTokens, expectedDim]}: another model, or another preprocessing. */
    WRONG_SHAPE,
    /** The file is larger than any valid entry of the expected shape could be. */
    TOO_LARGE,
    /** The file exists but could not be read. */
    IO_ERROR
}
