package dev.jepd.proxy.items;

/** The media kinds the proxy sends to encoders, named as in vLLM's multimodal data dict. */
public enum Modality {
    IMAGE("image"),
    AUDIO("audio");

    private final String key;

    Modality(String key) {
        this.key = key;
    }

    public String key() {
        return key;
    }
}
