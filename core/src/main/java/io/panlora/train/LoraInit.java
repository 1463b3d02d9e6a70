package io.panlora.train;

import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Creates the slots of a standard LoRA with PEFT's init: A ~ Kaiming-uniform(a = √5) = U(±1/√in), B = 0, so the adapted
 * model starts equal to the base; or sets slots from an existing adapter ({@link #fromAdapter}), for a run that continues
 * another (a federated round starting from the merged adapter). Static methods only.
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

    /**
     * Starts a run from an existing adapter: for every (layer, target) of the file, the set's enabled slot of that module takes
     * the file's factors, so the slot computes exactly what the file does (s·B·A = s_f·B_f·A_f): B as stored, A times
     * s_f/s (s_f the file's alpha/r, s the slot's scale). Modules the file does not have keep the init the strategy gave
     * them. Call it after the strategy added its slots ({@link TrainingStrategy#addSlots}) and before training.
     *
     * @param set     the adapter set of the run, its slots added; its model is the base the adapter must fit
     * @param adapter a GGUF LoRA adapter of that base (llama.cpp's layout), of the run's rank
     * @return the number of modules set from the file
     * @throws IOException                   if the file cannot be read
     * @throws io.panlora.gguf.GgufException if it is not a LoRA adapter of this base (see {@link AdapterGguf#load})
     * @throws IllegalArgumentException      if the file adapts a module the run has no enabled slot for (another
     *                                       {@code --targets}), a module has several enabled slots, or a rank differs from
     *                                       the slot's
     */
    public static int fromAdapter(LoraSet set, Path adapter) throws IOException {
        Map<String, LoraSet.Slot> own = new LinkedHashMap<>();
        for (LoraSet.Slot s : set.slots()) {
            if (!set.enabled(s)) continue;
            String key = "blk." + s.layer() + "." + s.target().gguf;
            if (own.put(key, s) != null)
                throw new IllegalArgumentException(adapter + ": the run has several enabled slots on " + key + "; an initial adapter sets one");
        }
        record Init(LoraSet.Slot slot, float[] a, float[] b) {}
        List<Init> inits = new ArrayList<>();
        try (LoraSet file = new LoraSet(set.model())) { // decoded into a scratch set: the run's set changes only once all fits
            AdapterGguf.load(adapter, file, 1f);
            for (LoraSet.Slot f : file.slots()) {
                String key = "blk." + f.layer() + "." + f.target().gguf;
                LoraSet.Slot s = own.get(key);
                if (s == null)
                    throw new IllegalArgumentException(adapter + ": adapts " + key + ", which this run does not train (see --targets)");
                if (s.rank() != f.rank())
                    throw new IllegalArgumentException(adapter + ": " + key + " has rank " + f.rank() + ", the run trains rank " + s.rank()
                            + " (merge to rank " + s.rank() + ", or train at rank " + f.rank() + ")");
                float[] a = file.getA(f);
                float ratio = file.scale(f) / set.scale(s);
                if (!Float.isFinite(ratio) || ratio == 0)
                    throw new IllegalArgumentException(adapter + ": " + key + ": the slot's scale " + set.scale(s) + " cannot take the file's " + file.scale(f));
                for (int i = 0; i < a.length; i++) a[i] *= ratio;
                inits.add(new Init(s, a, file.getB(f)));
            }
        }
        for (Init i : inits) set.setWeights(i.slot(), i.a(), i.b());
        return inits.size();
    }
}
