package io.panlora.tensor;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Leading (or trailing) left singular vectors of a dense matrix M (rows × cols). Leading: eigenvectors of the Gram
 * matrix G = M Mᵀ by subspace iteration with a Rayleigh–Ritz step, the products with G on the engine. Trailing:
 * clustered small eigenvalues defeat iteration, so a dense Jacobi eigen-decomposition of the smaller Gram matrix.
 */
public final class Subspace {
    private Subspace() {}

    /** Left singular vectors (columns of rows × r, row-major [rows][r]) and their singular values, descending. */
    public record Result(float[] u, double[] sigma, int rows, int r) {}

    /** Largest min(rows, cols) for the trailing vectors, which need a dense O(n³) eigen-solver. */
    public static final int MAX_DENSE = 1024;

    /** The r leading (minor = false) or trailing (minor = true) left singular vectors of m (rows × cols, row-major). */
    public static Result leftSingular(float[] m, int rows, int cols, int r, boolean minor, long seed) {
        if (r < 1 || r > rows) throw new IllegalArgumentException("rank " + r + " outside 1.." + rows);
        if (minor) return trailing(m, rows, cols, r);
        Native.ensureLoaded();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ms = a.allocateFrom(ValueLayout.JAVA_FLOAT, m);
            MemorySegment g = a.allocate(ValueLayout.JAVA_FLOAT, (long) rows * rows);
            // G = M Mᵀ: the engine's y = x Wᵀ with W = M and x = M
            Native.check(panlora_h.pl_matmul(0, ms, ms.byteSize(), cols, rows, ms, rows, g), "Gram matrix");
            int k = Math.min(rows, r + Math.min(r, 8)); // oversampled block
            double[][] q = randomOrthonormal(k, rows, seed);
            MemorySegment qs = a.allocate(ValueLayout.JAVA_FLOAT, (long) k * rows), zs = a.allocate(ValueLayout.JAVA_FLOAT, (long) k * rows);
            int iterations = 60;
            for (int it = 0; it < iterations; it++) {
                multiply(g, rows, q, qs, zs);
                q = read(zs, k, rows);
                orthonormalize(q);
            }
            // Rayleigh–Ritz: T = Qᵀ G Q (k × k), eigenvectors rotate Q
            multiply(g, rows, q, qs, zs);
            double[][] gq = read(zs, k, rows);
            double[][] t = new double[k][k];
            for (int i = 0; i < k; i++) for (int j = 0; j < k; j++) t[i][j] = dot(q[i], gq[j]);
            double[][] vecs = new double[k][k];
            double[] vals = Jacobi.eigen(t, vecs);
            Integer[] order = new Integer[k];
            for (int i = 0; i < k; i++) order[i] = i;
            java.util.Arrays.sort(order, (x, y) -> Double.compare(vals[y], vals[x]));
            float[] u = new float[rows * r];
            double[] sigma = new double[r];
            for (int c = 0; c < r; c++) {
                int e = order[c];
                sigma[c] = Math.sqrt(Math.max(0, vals[e]));
                for (int row = 0; row < rows; row++) {
                    double v = 0;
                    for (int j = 0; j < k; j++) v += vecs[j][e] * q[j][row];
                    u[row * r + c] = (float) v;
                }
            }
            return new Result(u, sigma, rows, r);
        }
    }

    /**
     * The r trailing left singular vectors among the min(rows, cols) singular values (as a thin SVD has them):
     * a dense Jacobi eigen-decomposition of the smaller Gram matrix (in double), U = M V / σ when cols < rows.
     */
    static Result trailing(float[] m, int rows, int cols, int r) {
        int n = Math.min(rows, cols);
        if (n > MAX_DENSE)
            throw new IllegalArgumentException("the minor subspace needs a dense eigen-solver; min(out, in) = " + n + " exceeds " + MAX_DENSE);
        if (r > n) throw new IllegalArgumentException("rank " + r + " exceeds min(out, in) = " + n);
        boolean byRows = rows <= cols;
        double[][] g = new double[n][n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) {
                double d = 0;
                if (byRows) for (int x = 0; x < cols; x++) d += (double) m[i * cols + x] * m[j * cols + x];
                else for (int x = 0; x < rows; x++) d += (double) m[x * cols + i] * m[x * cols + j];
                g[i][j] = d;
                g[j][i] = d;
            }
        double[][] vecs = new double[n][n];
        double[] vals = Jacobi.eigen(g, vecs);
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        java.util.Arrays.sort(order, (x, y) -> Double.compare(vals[x], vals[y])); // ascending: the smallest first
        float[] u = new float[rows * r];
        double[] sigma = new double[r];
        for (int c = 0; c < r; c++) {
            int e = order[c];
            sigma[c] = Math.sqrt(Math.max(0, vals[e]));
            if (byRows) {
                for (int row = 0; row < rows; row++) u[row * r + c] = (float) vecs[row][e];
            } else { // u = M v / σ, normalised (σ may be ~0: normalise the product instead)
                double[] col = new double[rows];
                double norm = 0;
                for (int row = 0; row < rows; row++) {
                    double d = 0;
                    for (int x = 0; x < cols; x++) d += (double) m[row * cols + x] * vecs[x][e];
                    col[row] = d;
                    norm += d * d;
                }
                norm = Math.sqrt(norm);
                for (int row = 0; row < rows; row++) u[row * r + c] = (float) (norm > 0 ? col[row] / norm : 0);
            }
        }
        return new Result(u, sigma, rows, r);
    }

    /** z_i = G q_i for each row vector q_i (G symmetric: the engine's y = x Gᵀ). */
    private static void multiply(MemorySegment g, int n, double[][] q, MemorySegment qs, MemorySegment zs) {
        for (int i = 0; i < q.length; i++)
            for (int j = 0; j < n; j++) qs.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + j, (float) q[i][j]);
        Native.check(panlora_h.pl_matmul(0, g, g.byteSize(), n, n, qs, q.length, zs), "subspace iteration");
    }

    private static double[][] read(MemorySegment s, int k, int n) {
        double[][] out = new double[k][n];
        for (int i = 0; i < k; i++) for (int j = 0; j < n; j++) out[i][j] = s.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + j);
        return out;
    }

    private static double[][] randomOrthonormal(int k, int n, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double[][] q = new double[k][n];
        for (double[] row : q) for (int j = 0; j < n; j++) row[j] = rng.nextGaussian();
        orthonormalize(q);
        return q;
    }

    /** Modified Gram–Schmidt (twice, for stability) on the rows. */
    static void orthonormalize(double[][] q) {
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < q.length; i++) {
                for (int j = 0; j < i; j++) {
                    double d = dot(q[i], q[j]);
                    for (int x = 0; x < q[i].length; x++) q[i][x] -= d * q[j][x];
                }
                double norm = Math.sqrt(dot(q[i], q[i]));
                if (norm < 1e-30) norm = 1;
                for (int x = 0; x < q[i].length; x++) q[i][x] /= norm;
            }
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
