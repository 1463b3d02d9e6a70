package io.panlora.variants;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.testing.SharedData;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import io.panlora.variants.cora.CoraConfig;
import io.panlora.variants.cora.CoraStrategy;
import io.panlora.tensor.Subspace;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CoRA: the subspace solver against a matrix of known SVD, the starting model, and training with B frozen. */
class CoraTest {
    @TempDir
    Path dir;

    /** Orthonormal columns (n × k, row-major) from Gram–Schmidt of random vectors. */
    static double[][] orthonormalColumns(int n, int k, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[][] q = new double[k][n];
        for (double[] v : q) for (int i = 0; i < n; i++) v[i] = r.nextGaussian();
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < i; j++) {
                double d = 0;
                for (int x = 0; x < n; x++) d += q[i][x] * q[j][x];
                for (int x = 0; x < n; x++) q[i][x] -= d * q[j][x];
            }
            double nn = 0;
            for (double v : q[i]) nn += v * v;
            nn = Math.sqrt(nn);
            for (int x = 0; x < n; x++) q[i][x] /= nn;
        }
        return q; // q[i] is column i
    }

    @Test
    void recoversLeadingAndTrailingSingularVectorsOfAKnownMatrix() {
        int rows = 40, cols = 56, k = 40;
        double[][] u = orthonormalColumns(rows, k, 1), v = orthonormalColumns(cols, k, 2);
        double[] sigma = new double[k];
        for (int i = 0; i < k; i++) sigma[i] = 10.0 / (1 + i); // distinct, decreasing
        float[] m = new float[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                double s = 0;
                for (int c = 0; c < k; c++) s += u[c][i] * sigma[c] * v[c][j];
                m[i * cols + j] = (float) s;
            }
        Subspace.Result top = Subspace.leftSingular(m, rows, cols, 4, false, 3);
        Subspace.Result low = Subspace.leftSingular(m, rows, cols, 3, true, 3);
        for (int c = 0; c < 4; c++) {
            assertEquals(sigma[c], top.sigma()[c], 1e-3 * sigma[c], "sigma " + c);
            assertEquals(1.0, Math.abs(overlap(top.u(), 4, c, u[c])), 1e-3, "leading vector " + c);
        }
        for (int c = 0; c < 3; c++) {
            int want = k - 1 - c; // the smallest singular values, smallest first in magnitude order below the top
            assertEquals(sigma[want], low.sigma()[c], 2e-2 * sigma[want] + 1e-3, "minor sigma " + c);
            assertEquals(1.0, Math.abs(overlap(low.u(), 3, c, u[want])), 2e-2, "trailing vector " + c);
        }
    }

    static double overlap(float[] cols, int r, int c, double[] want) {
        double d = 0;
        for (int i = 0; i < want.length; i++) d += cols[i * r + c] * want[i];
        return d;
    }

    @Test
    void startsAsTheBaseModelInEveryInitialisation() {
        LlamaConfig c = new LlamaConfig("llama", 40, 32, 2, 4, 2, 8, 64, 8, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, GgmlType.Q8_0, 1, false, arena), arena)) {
            int[][] tok = {{1, 2, 3, 4, 5, 6, 7, 8}};
            float[] base = m.logits(tok);
            for (CoraConfig cc : List.of(CoraConfig.defaults(), new CoraConfig("minor", false, false, false, List.of()),
                    new CoraConfig("principal", false, false, true, List.of()))) {
                try (LoraSet set = new LoraSet(m)) {
                    new CoraStrategy(cc).addSlots(set, TrainConfig.builder().lora(4, 8f).targets("all").build());
                    set.attach();
                    float[] got = m.logits(tok);
                    if (!cc.kaimingA()) assertArrayEquals(base, got, cc + ": A = 0 is exactly the base");
                    else for (int i = 0; i < base.length; i++) assertEquals(base[i], got[i], 1e-4, cc + ": residual cancels the init");
                    set.detach();
                }
            }
        }
    }

    @Test
    void frozenModeTrainsOnlyA() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        Path data = dir.resolve("shakespeare.txt");
        Files.writeString(data, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 120_000));
        TrainConfig cfg = TrainConfig.builder().lora(8, 8f).targets("q,k,v,o").lr(3e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(30)
                .batch(4, 128, 1).seed(5).eval(0, 4).checkpointEvery(0).build();
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(model, data, null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                dir.resolve("run"), false, null, new CoraStrategy(CoraConfig.defaults())));
        assertTrue(s.result().valAfter() < s.result().valBefore() - 0.3, "CoRA (B frozen) lowers held-out loss: " + s.result());
        // B in the export equals the principal subspace computed again from the base: it never trained
        try (LlamaModel m = LlamaModel.load(model); LoraSet fresh = new LoraSet(m); LoraSet trained = new LoraSet(m)) {
            new CoraStrategy(CoraConfig.defaults()).addSlots(fresh, cfg);
            io.panlora.lora.AdapterGguf.load(s.adapter(), trained, 1f);
            LoraSet.Slot f0 = fresh.slots().get(0), t0 = trained.slots().get(0);
            assertArrayEquals(fresh.getB(f0), trained.getB(t0), 1e-6f);
            float[] a = trained.getA(t0);
            double norm = 0;
            for (float x : a) norm += x * x;
            assertTrue(norm > 0, "A trained away from 0");
        }
    }
}
