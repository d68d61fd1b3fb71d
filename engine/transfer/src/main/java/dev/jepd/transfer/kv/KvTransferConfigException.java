package dev.jepd.transfer.kv;

/** The {@code --kv-transfer-config} JSON is not one JEPD can run with; the message says what to change. */
public final class KvTransferConfigException extends IllegalArgumentException {
    public KvTransferConfigException(String message) {
        super(message);
    }
}
