package dev.jepd.engine.safetensors;

/** The element types of the safetensors format that JEPD reads or writes. */
public enum DType {
    BF16(dev.jepd.tensor.DType.BF16),
    F16(dev.jepd.tensor.DType.F16),
    F32(dev.jepd.tensor.DType.F32),
    F64(8),
    I64(dev.jepd.tensor.DType.I64),
    I32(dev.jepd.tensor.DType.I32),
    I16(2),
    I8(1),
    U8(1),
    BOOL(1);

    private final int byteSize;
    private final dev.jepd.tensor.DType tensorType; // null: a storage type no tensor has

    DType(dev.jepd.tensor.DType tensorType) {
        this.byteSize = tensorType.byteSize();
        this.tensorType = tensorType;
    }

    DType(int byteSize) {
        this.byteSize = byteSize;
        this.tensorType = null;
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
    /** The tensor dtype that holds this stored type's elements as they are; empty for F64, I16, I8, U8, BOOL. */
    public java.util.Optional<dev.jepd.tensor.DType> tensorType() {
        return java.util.Optional.ofNullable(tensorType);
    }

    public static DType parse(String name) {
        for (DType d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        throw new SafetensorsException("unsupported safetensors dtype " + name);
    }
}
