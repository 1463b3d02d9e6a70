package io.panlora.tensor;

/** A tiny RNG whose whole state is one long, so a checkpoint can carry it (SplitMix64). */
public final class SplitMix64 {
    private long state;

    public SplitMix64(long seed) {
        this.state = seed;
    }

    /** The state, for checkpoints. */
    public long state() { return state; }

    /** Restores a state from {@link #state()}. */
    public void setState(long s) { state = s; }

    /** The next 64 random bits. */
    public long nextLong() {
        long z = (state += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, 1). */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** Uniform in [0, n). */
    public int nextInt(int n) {
        return (int) Math.floorMod(nextLong(), (long) n);
    }
}
