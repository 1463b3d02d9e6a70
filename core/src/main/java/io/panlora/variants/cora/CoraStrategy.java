package io.panlora.variants.cora;

import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaModel;
import io.panlora.model.WeightTensor;
import io.panlora.tensor.Codec;
import io.panlora.tensor.Subspace;
import io.panlora.train.LoraInit;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.TrainingStrategy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * CoRA as a strategy: one slot per (layer, target) whose B is computed once at the start from the chosen common
 * subspace (exact eigen-solver on the Gram matrix, products on the engine) and whose A starts at 0, so the initial
 * model is the base; in mode 1 B stays frozen. With Kaiming A, a frozen slot holding −s·B₀A₀ keeps the initial
 * model equal to the base.
 *
 * <p>The subspace is computed in {@link #addSlots}, from the dequantized base weights (or the shared adapters' B matrices), once
 * per module; that is the expensive part for large models. No state is checkpointed beyond the slots.
 */
public final class CoraStrategy implements TrainingStrategy {
    private final CoraConfig config;

    /**
     * A strategy for a configuration; nothing is computed until {@link #addSlots}.
     *
     * @param config the subspace and mode
     */
    public CoraStrategy(CoraConfig config) {
        this.config = config;
    }

    @Override
    public String name() { return "cora"; }

    /**
     * Whether B is frozen.
     *
     * @return true in mode 1 (B frozen, only A trains); false in mode 2 (both train, B starts in the subspace)
     */
    public boolean frozenB() { return config.frozenB(); }

    /**
     * No loop hooks; the one hook returned does nothing but name the configuration in checkpoints, so a resume with other CoRA
     * options is refused.
     *
     * @return a list of one hook that does nothing
     */
    @Override
    public List<TrainHook> hooks() {
        return List.of(new TrainHook() {
            @Override
            public String key() {
                return "cora(subspace=" + config.subspace() + ",frozenB=" + config.frozenB() + ",unscaled=" + config.unscaled() + ",kaimingA="
                        + config.kaimingA() + ",basis=" + config.shared() + ")";
            }
        });
    }

    /**
     * Adds one slot per (layer, target) with B from the subspace (rank r columns) and A zero or Kaiming-uniform; with
     * Kaiming A, also a frozen slot of scale −s with the same factors, so the model starts as the base.
     *
     * @param set the empty adapter set
     * @param cfg the run's configuration (rank, alpha, targets, seed)
     * @throws IllegalArgumentException if the shared adapters lack a module or have a total rank below r there
     * @throws java.io.UncheckedIOException if a shared adapter cannot be read
     */
    @Override
    public void addSlots(LoraSet set, TrainConfig cfg) {
        LlamaModel m = set.model();
        Map<String, float[]> sharedB = config.subspace().equals("shared") ? stackedB(m, config.shared()) : Map.of();
        SplittableRandom rng = new SplittableRandom(cfg.seed());
        float s = cfg.scale();
        for (int l = 0; l < m.config().nLayer(); l++)
            for (Target t : cfg.targets()) {
                String name = "blk." + l + "." + t.gguf + ".weight";
                int out = (int) t.out(m.config()), in = (int) t.in(m.config()), r = cfg.rank();
                float[] b;
                if (config.subspace().equals("random")) {
                    b = randomOrthonormal(out, r, new SplittableRandom(cfg.seed() * 1_000_003L + 7919L * l + t.ordinal()));
                } else if (config.subspace().equals("shared")) {
                    float[] stacked = sharedB.get(name);
                    if (stacked == null) throw new IllegalArgumentException("--cora-shared adapters have no factors for " + name);
                    int cols = stacked.length / out;
                    if (cols < r) throw new IllegalArgumentException("--cora-shared: " + name + " has total rank " + cols + " < " + r);
                    b = Subspace.leftSingular(stacked, out, cols, r, false, cfg.seed() + l).u();
                } else {
                    WeightTensor w = m.weights().get(name);
                    float[] dense = Codec.dequantize(w.type(), w.data(), (long) out * in);
                    Subspace.Result res = Subspace.leftSingular(dense, out, in, r, config.subspace().equals("minor"), cfg.seed() + l);
                    b = res.u();
                    if (config.subspace().equals("principal") && !config.unscaled())
                        for (int row = 0; row < out; row++)
                            for (int c = 0; c < r; c++) b[row * r + c] *= (float) Math.sqrt(res.sigma()[c]);
                }
                LoraSet.Slot slot = set.addSlot(l, t, r, s);
                float[] a = config.kaimingA() ? LoraInit.kaimingUniform(rng, r, in) : new float[r * in];
                set.setWeights(slot, a, b);
                set.setFlags(slot, s, true, !config.frozenB(), true);
                if (config.kaimingA()) { // −s·B₀A₀ frozen: the model starts as the base
                    LoraSet.Slot residual = set.addSlot(l, t, r, -s);
                    set.setWeights(residual, a, b);
                    set.setFlags(residual, -s, false, false, true);
                }
            }
    }

    /**
     * A random orthonormal basis: {@code cols} columns of an {@code rows × cols} Gaussian matrix made orthonormal by
     * modified Gram-Schmidt (row-major).
     */
    static float[] randomOrthonormal(int rows, int cols, SplittableRandom rng) {
        if (cols > rows) throw new IllegalArgumentException("--cora-subspace random: rank " + cols + " > " + rows + " rows");
        double[][] q = new double[cols][rows];
        for (int c = 0; c < cols; c++) {
            double[] v = q[c];
            double norm;
            do {
                for (int i = 0; i < rows; i++) v[i] = gaussian(rng);
                for (int p = 0; p < c; p++) {
                    double dot = 0;
                    for (int i = 0; i < rows; i++) dot += v[i] * q[p][i];
                    for (int i = 0; i < rows; i++) v[i] -= dot * q[p][i];
                }
                norm = 0;
                for (int i = 0; i < rows; i++) norm += v[i] * v[i];
                norm = Math.sqrt(norm);
            } while (norm < 1e-6);
            for (int i = 0; i < rows; i++) v[i] /= norm;
        }
        float[] b = new float[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < cols; c++) b[i * cols + c] = (float) q[c][i];
        return b;
    }

    private static double gaussian(SplittableRandom rng) {
        double u1 = rng.nextDouble(), u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** For each module, the B matrices of the given adapters side by side ([out][Σr], row-major). */
    static Map<String, float[]> stackedB(LlamaModel m, List<Path> adapters) {
        Map<String, List<float[]>> parts = new HashMap<>();
        Map<String, Integer> outs = new HashMap<>();
        for (Path p : adapters) {
            try (LoraSet tmp = new LoraSet(m)) {
                AdapterGguf.load(p, tmp, 1f);
                for (LoraSet.Slot s : tmp.slots()) {
                    String name = "blk." + s.layer() + "." + s.target().gguf + ".weight";
                    parts.computeIfAbsent(name, k -> new java.util.ArrayList<>()).add(tmp.getB(s));
                    outs.put(name, (int) s.out());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        Map<String, float[]> out = new HashMap<>();
        for (var e : parts.entrySet()) {
            int rows = outs.get(e.getKey()), cols = 0;
            for (float[] b : e.getValue()) cols += b.length / rows;
            float[] st = new float[rows * cols];
            int c0 = 0;
            for (float[] b : e.getValue()) {
                int r = b.length / rows;
                for (int row = 0; row < rows; row++) System.arraycopy(b, row * r, st, row * cols + c0, r);
                c0 += r;
            }
            out.put(e.getKey(), st);
        }
        return out;
    }
}
