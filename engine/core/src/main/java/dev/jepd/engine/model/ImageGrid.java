package dev.jepd.engine.model;

/** An image's grid in patches (t, h, w) and the spatial merge size; tokens = t·h·w / merge². */
public record ImageGrid(int t, int h, int w, int merge) {
    public int tokens() {
        return t * (h / merge) * (w / merge);
    }
}
