package dev.jepd.engine.safetensors;

/** A safetensors file or checkpoint that cannot be read as promised; the message names the file. */
public class SafetensorsException extends RuntimeException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
