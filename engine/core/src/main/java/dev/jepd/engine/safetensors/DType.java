package dev.jepd.engine.safetensors;

/** The element types of the safetensors format that JEPD reads or writes. */
public enum DType {
    BF16(2),
    F16(2),
    F32(4),
    F64(8),
    I64(8),
    I32(4),
    I16(2),
    I8(1),
    U8(1),
    BOOL(1);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return switch (this) {
            case BF16, F16, F32, F64 -> true;
            case I64, I32, I16, I8, U8, BOOL -> false;
        };
    }

    /** Parses the header spelling ("BF16", "F32", ...). */
    public static DType parse(String name) {
        for (DType d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        throw new SafetensorsException("unsupported safetensors dtype " + name);
    }
}
