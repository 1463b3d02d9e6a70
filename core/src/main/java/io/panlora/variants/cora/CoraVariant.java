package io.panlora.variants.cora;

import io.panlora.train.TrainingStrategy;
import io.panlora.variants.VariantOption;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.VariantType;
import java.util.List;

/**
 * CoRA: B from a common subspace. The subspace defaults to {@code shared} when basis adapters are given
 * ({@code --cora-basis}) and to {@code principal} otherwise, and {@link #describe} says which and why.
 */
public final class CoraVariant implements VariantType {
    /** The variant; {@link io.panlora.variants.Variants} holds the instance in use. */
    public CoraVariant() {}

    @Override
    public String name() { return "cora"; }

    @Override
    public String summary() { return "CoRA: B from a common subspace, frozen (mode 1) or as the init (mode 2) (arXiv 2409.02119)"; }

    @Override
    public List<VariantOption> options() {
        return List.of(
                VariantOption.of("cora-subspace", "", "CoRA: shared | principal | minor | random (a random orthonormal B, a control) (default: shared when --cora-basis is given, else principal)"),
                VariantOption.of("cora-basis", "", "CoRA: adapters (A.gguf,B.gguf,…) of the same base trained on other data, whose B matrices span the shared subspace"),
                VariantOption.of("cora-mode", "frozen", "CoRA: frozen (mode 1: only A trains) | init (mode 2: B starts in the subspace, both train)"),
                VariantOption.flag("cora-unscaled", "CoRA principal: B = U_r without the sqrt(Sigma) scaling"),
                VariantOption.flag("cora-kaiming-a", "CoRA: A Kaiming-uniform with the initial product subtracted (PiSSA-style) instead of A = 0"));
    }

    /**
     * The subspace a run uses: the one asked for, else {@code shared} with basis adapters, else {@code principal}.
     *
     * @param s the settings
     * @return the subspace's name
     */
    public static String subspace(VariantSettings s) {
        String asked = s.text("cora-subspace");
        if (!asked.isEmpty()) return asked;
        return s.paths("cora-basis").isEmpty() ? "principal" : "shared";
    }

    @Override
    public TrainingStrategy create(VariantSettings s) {
        String mode = s.text("cora-mode");
        if (!mode.equals("frozen") && !mode.equals("init"))
            throw new IllegalArgumentException("--cora-mode must be frozen or init, got '" + mode + "'");
        for (java.nio.file.Path p : s.paths("cora-basis"))
            if (!java.nio.file.Files.isRegularFile(p)) throw new IllegalArgumentException("--cora-basis " + p + ": no such adapter file");
        return new CoraStrategy(new CoraConfig(subspace(s), mode.equals("frozen"), s.bool("cora-unscaled"), s.bool("cora-kaiming-a"),
                s.paths("cora-basis")));
    }

    @Override
    public String describe(VariantSettings s) {
        String sub = subspace(s);
        String why = !s.text("cora-subspace").isEmpty() ? "as asked"
                : sub.equals("shared") ? "the default with --cora-basis: " + s.paths("cora-basis").size() + " basis adapters"
                : "the default without --cora-basis";
        return "cora: subspace " + sub + " (" + why + "), mode " + (s.text("cora-mode").equals("frozen") ? "1, B frozen" : "2, B as the init");
    }
}
