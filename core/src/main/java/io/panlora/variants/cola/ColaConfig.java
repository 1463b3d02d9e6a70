package io.panlora.variants.cola;

/**
 * Chain of LoRA (COLA): training split into {@code links} equal links; at the end of each link the link's contribution is
 * tied into the model ("knot") and a fresh slot with fresh optimizer state trains on top. The options are the ones the paper
 * ablates (chain length, a rank that steps down along the chain) and one it leaves open (whether the learning-rate schedule
 * restarts per link). Defaults: 3 links, the schedule continues over the whole run, every link of rank r, finished links
 * kept as frozen slots ({@link Fold#SLOTS}: on this engine a few rank-r products cost less than a dense correction, see
 * {@link Fold#DENSE}).
 *
 * @param links     the number of links the run is split into, 1 … 2<sup>20</sup> (1 is plain LoRA); the exported adapter has
 *                  the sum of the links' ranks ({@code links × r} when {@code rankStep} is 0)
 * @param restartLr false: the learning-rate schedule (warmup and decay) runs once over the whole run; true: it restarts at
 *                  every link, over the link's steps, as if each link were a run of its own
 * @param rankStep  0: every link has the run's rank r; k &gt; 0: link j has rank {@code max(1, r − j·k)} (a rank that steps
 *                  down along the chain); at most 2<sup>20</sup>
 * @param fold      how a finished link is tied in: {@link Fold#SLOTS} (default) or {@link Fold#DENSE}
 */
public record ColaConfig(int links, boolean restartLr, int rankStep, Fold fold) {
    /** The longest chain and the largest rank step accepted (far beyond any useful value; keeps the arithmetic in range). */
    public static final int MAX = 1 << 20;

    /**
     * How a knot ties a finished link into the model. Either way the model function is unchanged at the knot (up to float
     * rounding) and the exported adapter is the sum of all links.
     */
    public enum Fold {
        /**
         * The link's s·B·A is added to a dense F32 correction Δ of each adapted module, which the engine adds to the base
         * weight (W + Δ, exact for a quantized base too: W is never re-quantized); the link's slot is then switched off. The
         * forward cost no longer grows with the links, but Δ costs one dense F32 matrix per module in memory and one dense
         * product per module in every forward and backward pass, which is far more than a few rank-r slots unless
         * {@code links·r} approaches {@code in·out/(in+out)} (measured on the CPU, a 4-layer Q8_0 model of width 1024, rank 8,
         * all targets: about 0.85 s per step for LoRA and for 3 links as {@link #SLOTS}, about 1.6–1.8 s once a dense fold is
         * active).
         */
        DENSE,
        /**
         * The link's slot stays on, frozen (the fold kept as a low-rank term, exact for any base): no dense memory, but every
         * finished link adds its rank-r product to each forward and backward pass.
         */
        SLOTS
    }

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if {@code links} is outside 1 … {@link #MAX}, {@code rankStep} outside 0 …
     *                                  {@link #MAX}, or {@code fold} is null
     */
    public ColaConfig {
        if (links < 1 || links > MAX)
            throw new IllegalArgumentException("a chain needs 1 to " + MAX + " links, got " + links);
        if (rankStep < 0 || rankStep > MAX)
            throw new IllegalArgumentException("the rank step of a chain must be 0 (every link of rank r) to " + MAX + ", got " + rankStep);
        if (fold == null) throw new IllegalArgumentException("a chain needs a fold (DENSE or SLOTS), got null");
    }

    /**
     * A chain with the defaults for everything but the link count: the schedule continues over the whole run, every link has
     * rank r, finished links stay as frozen slots.
     *
     * @param links the number of links, 1 … {@link #MAX}
     * @throws IllegalArgumentException if {@code links} is out of range
     */
    public ColaConfig(int links) {
        this(links, false, 0, Fold.SLOTS);
    }

    /**
     * The defaults: 3 links, the schedule continues, every link of rank r, frozen-slot folds.
     *
     * @return {@code new ColaConfig(3)}
     */
    public static ColaConfig defaults() {
        return new ColaConfig(3);
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

    /**
     * The rank of a link.
     *
     * @param k    the link, 0 … links−1
     * @param rank the run's rank r
     * @return {@code r} when {@code rankStep} is 0, else {@code max(1, r − k·rankStep)}
     */
    public int linkRank(int k, int rank) {
        return (int) Math.max(1, rank - (long) k * rankStep);
    }
}
