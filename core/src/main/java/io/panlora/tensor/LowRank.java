package io.panlora.tensor;

/** Low-rank factorisation of a dense update: M ≈ B·A with B = U_k Σ_k (out × k) and A = V_kᵀ (k × in). */
public final class LowRank {
    private LowRank() {}

    /** Factors of M (out × in, row-major) at rank k; exact when rank(M) ≤ k (up to float rounding). */
    public record Factors(float[] b, float[] a, int rank, double[] sigma) {}

    public static Factors factor(float[] m, int out, int in, int k, long seed) {
        k = Math.min(k, Math.min(out, in));
        Subspace.Result u = Subspace.leftSingular(m, out, in, k, false, seed);
        float[] bk = new float[out * k], ak = new float[k * in];
        for (int c = 0; c < k; c++) {
            double sig = u.sigma()[c];
            if (sig <= 1e-12) continue; // a direction the update does not use
            for (int o = 0; o < out; o++) bk[o * k + c] = (float) (u.u()[o * k + c] * sig);
            for (int i = 0; i < in; i++) {
                double d = 0;
                for (int o = 0; o < out; o++) d += u.u()[o * k + c] * m[o * in + i];
                ak[c * in + i] = (float) (d / sig);
            }
        }
        return new Factors(bk, ak, k, u.sigma());
    }

    /** m[o][i] += f · Σ_j b[o][j]·a[j][i] for B (out × r) and A (r × in). */
    public static void addProduct(float[] m, float[] b, float[] a, int out, int in, int r, float f) {
        for (int o = 0; o < out; o++)
            for (int j = 0; j < r; j++) {
                float bj = f * b[o * r + j];
                if (bj == 0f) continue;
                int ao = j * in, so = o * in;
                for (int i = 0; i < in; i++) m[so + i] += bj * a[ao + i];
            }
    }
}
