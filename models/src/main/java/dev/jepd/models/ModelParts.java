package dev.jepd.models;

/** Which halves of a vision-language checkpoint to load. */
public enum ModelParts {
    /** Vision tower only: an encoder node ({@code ec_producer}, {@code --mm-encoder-only}). */
    VISION,
    /** Language model only: a node that always receives image embeddings from the EC. */
    LANGUAGE,
    /** Both: a single node, or a PD node that encodes locally on an EC miss. */
    ALL;

    public boolean vision() {
        return this != LANGUAGE;
    }

    public boolean language() {
        return this != VISION;
    }
}
