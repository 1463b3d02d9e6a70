package io.panlora.variants.cola;

/**
 * Chain of LoRA (COLA): training split into {@code links} equal links; at the end of each link the slot is tied
 * into the model ("knot") and a fresh slot with fresh optimizer state trains on top. Default 3 links.
 */
public record ColaConfig(int links) {
    public ColaConfig {
        if (links < 1) throw new IllegalArgumentException("a chain needs at least one link, got " + links);
    }

    /** The first step of link k (k = 0 … links−1) of a run of totalSteps. */
    public int linkStart(int k, int totalSteps) {
        return (int) Math.round((double) k * totalSteps / links);
    }

    /** The link a step belongs to. */
    public int linkOf(int step, int totalSteps) {
        int k = 0;
        while (k + 1 < links && step >= linkStart(k + 1, totalSteps)) k++;
        return k;
    }
}
