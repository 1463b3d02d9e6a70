package io.panlora.data;

/**
 * Seeded permutations that are identical on every JVM and Java version: SplitMix64 (fixed
 * constants, written out here rather than relying on a library class's unspecified internals),
 * unbiased bounded draws by rejection, and Fisher-Yates. Checkpoints depend on this staying fixed.
 * All methods are pure functions and thread-safe.
 */
public final class Shuffle {

    private Shuffle() {}

    /**
     * A random permutation of 0..n-1 determined by the seed (uniform over all permutations).
     *
     * @param n    the number of elements, {@code >= 0}
     * @param seed any value; equal seeds give equal permutations
     * @return a new array holding each of 0..n-1 once (empty for n = 0)
     * @throws NegativeArraySizeException if {@code n < 0}
     */
    public static int[] permutation(int n, long seed) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        SplitMix64 random = new SplitMix64(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    /**
     * A seed for an independent stream (e.g. one per epoch) derived from a base seed. panlora uses the
     * epoch number as the stream for the per-epoch shuffle and -1 for the validation split.
     *
     * @param seed   the base seed
     * @param stream which stream; different streams give unrelated seeds
     * @return the derived seed, for {@link #permutation}
     */
    public static long derive(long seed, long stream) {
        return SplitMix64.mix(seed ^ SplitMix64.mix(stream + 0x6A09E667F3BCC909L));
    }

    /** SplitMix64 (Steele, Lea, Flood 2014). */
    static final class SplitMix64 {
        private static final long GAMMA = 0x9E3779B97F4A7C15L;
        private long state;

        SplitMix64(long seed) {
            this.state = seed;
        }

        long nextLong() {
            state += GAMMA;
            return mix(state);
        }

        /** Uniform in [0, bound), without modulo bias. */
        int nextInt(int bound) {
            if (bound <= 0) throw new IllegalArgumentException("bound must be positive, got " + bound);
            long limit = Long.MAX_VALUE - Long.MAX_VALUE % bound; // a multiple of bound
            long r;
            do {
                r = nextLong() >>> 1;
            } while (r >= limit);
            return (int) (r % bound);
        }

        static long mix(long z) {
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }
    }
}
