package io.panlora.tensor;

/** Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations. */
final class Jacobi {
    private Jacobi() {}

    /** Eigenvalues of symmetric a (n × n, destroyed); vecs receives the eigenvectors as columns. */
    static double[] eigen(double[][] a, double[][] vecs) {
        int n = a.length;
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) vecs[i][j] = i == j ? 1 : 0;
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0;
            for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) off += a[i][j] * a[i][j];
            if (off < 1e-30) break;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++) {
                    if (Math.abs(a[p][q]) < 1e-300) continue;
                    double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++) {
                        double akp = a[k][p], akq = a[k][q];
                        a[k][p] = c * akp - s * akq;
                        a[k][q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++) {
                        double apk = a[p][k], aqk = a[q][k];
                        a[p][k] = c * apk - s * aqk;
                        a[q][k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++) {
                        double vkp = vecs[k][p], vkq = vecs[k][q];
                        vecs[k][p] = c * vkp - s * vkq;
                        vecs[k][q] = s * vkp + c * vkq;
                    }
                }
        }
        double[] vals = new double[n];
        for (int i = 0; i < n; i++) vals[i] = a[i][i];
        return vals;
    }
}
