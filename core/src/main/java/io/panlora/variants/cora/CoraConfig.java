package io.panlora.variants.cora;

import java.nio.file.Path;
import java.util.List;

/**
 * CoRA: B taken from a common subspace instead of zeros.
 *
 * @param subspace  principal (top-r left singular vectors of W, scaled by √Σ unless unscaled), minor (those of the
 *                  r smallest singular values, unscaled — PEFT's MiCA) or shared (top-r left singular vectors of the
 *                  stacked B matrices of earlier adapters for the same base), or random (a random orthonormal r-column
 *                  basis drawn from the run's seed, per module: the control with no knowledge in B)
 * @param frozenB   mode 1: B fixed, only A trains (half the trainable parameters); mode 2 (false): B is the init
 * @param unscaled  principal without the √Σ scaling
 * @param kaimingA  A Kaiming-uniform instead of 0, with the initial product subtracted by a frozen slot (PiSSA-style)
 * @param shared    adapters whose B matrices span the shared subspace (subspace = shared)
 */
public record CoraConfig(String subspace, boolean frozenB, boolean unscaled, boolean kaimingA, List<Path> shared) {
    /**
     * Checks the subspace and copies the shared adapters' list.
     *
     * @throws IllegalArgumentException if {@code subspace} is not {@code principal}, {@code minor}, {@code shared} or
     *                                  {@code random}, or it
     *                                  is {@code shared} and no adapter is given
     * @throws NullPointerException if {@code subspace} is null
     */
    public CoraConfig {
        if (!List.of("principal", "minor", "shared", "random").contains(subspace))
            throw new IllegalArgumentException("--cora-subspace must be principal, minor, shared or random, got '" + subspace + "'");
        if (subspace.equals("shared") && (shared == null || shared.isEmpty()))
            throw new IllegalArgumentException("--cora-subspace shared needs --cora-basis ADAPTER.gguf[,…]");
        shared = shared == null ? List.of() : List.copyOf(shared);
    }

    /**
     * The default: mode 1 (B frozen) in the principal subspace, scaled by √Σ, A = 0.
     *
     * @return the configuration
     */
    public static CoraConfig defaults() {
        return new CoraConfig("principal", true, false, false, List.of());
    }
}
