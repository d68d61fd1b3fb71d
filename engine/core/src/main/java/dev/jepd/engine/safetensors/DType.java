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

    /**
     * The tensor SPI's element type for this storage type, where it has one: the one place the two enums
     * meet (the storage enum also spells F64, I16, I8, U8 and BOOL, which no tensor holds).
     */
    public java.util.Optional<dev.jepd.tensor.DType> tensorType() {
        return switch (this) {
            case BF16 -> java.util.Optional.of(dev.jepd.tensor.DType.BF16);
            case F16 -> java.util.Optional.of(dev.jepd.tensor.DType.F16);
            case F32 -> java.util.Optional.of(dev.jepd.tensor.DType.F32);
            case I64 -> java.util.Optional.of(dev.jepd.tensor.DType.I64);
            case I32 -> java.util.Optional.of(dev.jepd.tensor.DType.I32);
            case F64, I16, I8, U8, BOOL -> java.util.Optional.empty();
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
