package dev.jepd.tensor;

/**
 * Where a tensor's memory lives: a device type and its index ({@code cuda:1}). Spelled like PyTorch's
 * {@code torch.device} in {@link #toString()} and {@link #parse}.
 */
public record Device(Type type, int index) {
    /** The host: every CPU backend's one device. */
    public static final Device CPU = new Device(Type.CPU, 0);

    /** The device kinds a backend may run on. */
    public enum Type {
        CPU,
        CUDA,
        XPU
    }

    public Device {
        if (index < 0) {
            throw new IllegalArgumentException("device index must be >= 0, got " + index);
        }
    }

    public static Device cuda(int index) {
        return new Device(Type.CUDA, index);
    }

    /** Parses {@code cpu}, {@code cuda}, {@code cuda:1}, {@code xpu:0}. */
    public static Device parse(String spec) {
        int colon = spec.indexOf(':');
        String kind = colon < 0 ? spec : spec.substring(0, colon);
        int index;
        try {
            index = colon < 0 ? 0 : Integer.parseInt(spec.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("device " + spec + ": index is not a number", e);
        }
        Type type =
                switch (kind) {
                    case "cpu" -> Type.CPU;
                    case "cuda" -> Type.CUDA;
                    case "xpu" -> Type.XPU;
                    default -> throw new IllegalArgumentException("unknown device type in " + spec);
                };
        return new Device(type, index);
    }

    @Override
    public String toString() {
        return type == Type.CPU ? "cpu" : type.name().toLowerCase(java.util.Locale.ROOT) + ":" + index;
    }
}
