package io.panlora.train;

import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import java.util.List;
import java.util.SplittableRandom;

/** Creates the slots of a standard LoRA with PEFT's init: A ~ Kaiming-uniform(a = √5) = U(±1/√in), B = 0. */
public final class LoraInit {
    private LoraInit() {}

    /** Adds one slot per (layer, target) and initialises it; deterministic for a seed. */
    public static void addStandard(LoraSet set, int rank, float scale, List<Target> targets, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int layers = (int) set.model().config().nLayer();
        for (int l = 0; l < layers; l++)
            for (Target t : targets) {
                LoraSet.Slot s = set.addSlot(l, t, rank, scale);
                set.setWeights(s, kaimingUniform(rng, rank, s.in()), null);
            }
    }

    /** rows × in values from U(−1/√in, 1/√in): torch's kaiming_uniform_(a=√5) bound √(6/((1+a²)·fan_in)). */
    public static float[] kaimingUniform(SplittableRandom rng, int rows, long in) {
        double bound = 1.0 / Math.sqrt(in);
        float[] a = new float[(int) (rows * in)];
        for (int i = 0; i < a.length; i++) a[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        return a;
    }
}
