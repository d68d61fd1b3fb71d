package dev.jepd.tensor.torch;

/**
 * The StableIValue encoding of {@code aoti_torch_call_dispatcher}'s stack ({@code uint64_t} slots, see
 * {@code docs/source/notes/libtorch_stable_abi.md} and {@code torch/csrc/stable/library.h}): a value's raw
 * bytes copied into the low bytes of a zeroed slot. Only the types every libtorch from 2.7 on converts are
 * used here: Tensor (an {@code AtenTensorHandle}, which the call consumes), int, float (a C double), bool,
 * ScalarType and MemoryFormat (their C10 codes), and an absent optional (a null pointer). A present optional
 * is a pointer to a StableIValue that libtorch frees with C++ {@code delete}, lists and Scalars do not convert
 * in 2.7: ops with such arguments go through the typed shim functions of {@link AotiShim} instead.
 */
final class StableIValues {
    /** An absent {@code T?} argument. */
    static final long NONE = 0L;

    private StableIValues() {}

    static long ofInt(long v) {
        return v;
    }

    static long ofDouble(double v) {
        return Double.doubleToRawLongBits(v);
    }

    static long ofBool(boolean v) {
        return v ? 1L : 0L;
    }

    /** A ScalarType, Layout or MemoryFormat code. */
    static long ofCode(int code) {
        return code & 0xFFFF_FFFFL;
    }
}
