package dev.jepd.engine.media;

/** Placeholder until the media package lands: processor output [patches, C*tp*p*p] row-major. */
public record PixelValues(float[] data, int gridT, int gridH, int gridW) {
    public int numPatches() {
        return gridT * gridH * gridW;
    }
}
