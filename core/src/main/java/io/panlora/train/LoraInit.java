package io.panlora.train;

import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Creates the slots of a standard LoRA with PEFT's init: A ~ Kaiming-uniform(a = √5) = U(±1/√in), B = 0, so the adapted
 * model starts equal to the base. Static methods only.
 */
public final class LoraInit {
    private LoraInit() {}

    /**
     * Adds one slot per (layer, target) to the set, for every layer of its model, and initialises it (A Kaiming-uniform, B
     * zero). The slots are added layer by layer, in the order of {@code targets} within a layer; the values are deterministic
     * for a seed (one random stream over all slots in that order). The factors are written into the engine's native memory.
     *
     * @param set     the adapter set to add to (its model gives the layer count and the shapes)
     * @param rank    the rank r of every slot, at least 1
     * @param scale   every slot's scale s (the layer adds s·B·A·x), e.g. {@link TrainConfig#scale()}
     * @param targets the projections to adapt in each layer
     * @param seed    the seed of the A values
     * @throws io.panlora.bindings.PanloraException if the engine refuses a slot (e.g. a rank it cannot hold)
     */
    public static void addStandard(LoraSet set, int rank, float scale, List<Target> targets, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int layers = (int) set.model().config().nLayer();
        for (int l = 0; l < layers; l++)
            for (Target t : targets) {
                LoraSet.Slot s = set.addSlot(l, t, rank, scale);
                set.setWeights(s, kaimingUniform(rng, rank, s.in()), null);
            }
    }

    /**
     * A Kaiming-uniform LoRA A matrix: {@code rows × in} values from U(−1/√in, 1/√in), which is torch's
     * {@code kaiming_uniform_(a=√5)} bound √(6/((1+a²)·fan_in)) with fan_in = in.
     *
     * @param rng  the random stream to draw from (advanced by {@code rows × in} draws)
     * @param rows the number of rows (the rank r)
     * @param in   the number of columns (the input width, fan_in); {@code rows × in} must fit in an int
     * @return a new row-major array of {@code rows × in} floats
     */
    public static float[] kaimingUniform(SplittableRandom rng, int rows, long in) {
        double bound = 1.0 / Math.sqrt(in);
        float[] a = new float[(int) (rows * in)];
        for (int i = 0; i < a.length; i++) a[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        return a;
    }
}
