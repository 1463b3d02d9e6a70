package io.panlora.variants.cola;

/**
 * Chain of LoRA (COLA): training split into {@code links} equal links; at the end of each link the slot is tied
 * into the model ("knot") and a fresh slot with fresh optimizer state trains on top. Default 3 links.
 *
 * @param links the number of links the run is split into, at least 1 (1 is plain LoRA); each link has its own rank-r slots,
 *              so the exported adapter has rank {@code links × r}
 */
public record ColaConfig(int links) {
    /**
     * Checks the link count.
     *
     * @throws IllegalArgumentException if {@code links < 1}
     */
    public ColaConfig {
        if (links < 1) throw new IllegalArgumentException("a chain needs at least one link, got " + links);
    }

    /**
     * The first step of a link: links split the run as evenly as rounding allows.
     *
     * @param k          the link, 0 … links−1
     * @param totalSteps the run's steps
     * @return the 0-based step at which link {@code k} starts: {@code round(k × totalSteps / links)}
     */
    public int linkStart(int k, int totalSteps) {
        return (int) Math.round((double) k * totalSteps / links);
    }

    /**
     * The link a step belongs to.
     *
     * @param step       a 0-based step
     * @param totalSteps the run's steps
     * @return the link, 0 … links−1: the last one whose {@link #linkStart} is at or before {@code step}
     */
    public int linkOf(int step, int totalSteps) {
        int k = 0;
        while (k + 1 < links && step >= linkStart(k + 1, totalSteps)) k++;
        return k;
    }
}
