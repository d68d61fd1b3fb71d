package dev.jepd.proxy.items;

/**
 * The media kinds the proxy sends to encoders, named as in vLLM's multimodal data dict; the name is part of
 * every derived uuid ({@link ItemUuids}). Images only: the content-part grammar rejects the rest.
 */
public enum Modality {
    IMAGE("image");

    private final String key;

    Modality(String key) {
        this.key = key;
    }

    public String key() {
        return key;
    }
}
