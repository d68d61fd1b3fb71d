package dev.jepd.transfer.ec;

/** An {@code --ec-transfer-config} that JEPD cannot run with; the message says which field and what is accepted. */
public final class EcConfigException extends IllegalArgumentException {
    public EcConfigException(String message) {
        super(message);
    }

    public EcConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
