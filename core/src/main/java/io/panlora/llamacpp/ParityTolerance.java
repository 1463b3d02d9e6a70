package io.panlora.llamacpp;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;

/**
 * How far panlora's and llama.cpp's results may differ ({@link Parity.Report#within}) when tensors of a type take part (adapter
 * factors or model weights). Both engines compute F32, F16 and BF16 tensors in F32 arithmetic, except that llama.cpp's CPU
 * matmul rounds the activations a BF16 weight multiplies to BF16; for a block-quantized type it rounds them to 8 bits (Q8_0
 * for the legacy types, Q8_K for the K-quants), where panlora multiplies the dequantized weights with F32 activations (the
 * decoded values are the same: QuantizedAdapterTest checks ggml's decoding of our blocks bit for bit). Largest differences
 * measured on stories260K and a dim-256 model, 512-token windows: trained adapters F16 0.002 logits, BF16 0.016, quantized
 * 0.072 (|ΔNLL| 7e-4); models with every linear in the type (export --merge) BF16 0.088, quantized 0.31 (|ΔNLL| 2.5e-3);
 * an unrealistically strong random adapter (NLL 0.89 → 3.9) BF16 0.19, quantized 0.63 (|ΔNLL| 0.010). The defaults cover
 * all but the last with a margin of two or more; a far stronger adapter may need explicit tolerances.
 *
 * @param nll   largest accepted |mean NLL difference|, nats/token
 * @param logit largest accepted |logit difference|
 */
public record ParityTolerance(double nll, double logit) {
    /**
     * Checks the tolerances.
     *
     * @param nll   largest accepted |mean NLL difference|, nats/token, 0 or more
     * @param logit largest accepted |logit difference|, 0 or more
     * @throws IllegalArgumentException if a tolerance is negative or NaN
     */
    public ParityTolerance {
        if (!(nll >= 0) || !(logit >= 0)) throw new IllegalArgumentException("tolerances must be non-negative numbers: " + nll + ", " + logit);
    }

    /**
     * The default when tensors of type t take part.
     *
     * @param t a tensor type
     * @return nll 0.002 and logit 0.05 for F32, F16 and other unquantized types; nll 0.002 and logit 0.2 for BF16; nll
     *         0.01 and logit 0.6 for block-quantized types
     */
    public static ParityTolerance of(GgmlType t) {
        return switch (t) {
            case F32, F16 -> new ParityTolerance(0.002, 0.05);
            case BF16 -> new ParityTolerance(0.002, 0.2);
            default -> t.isQuantized() ? new ParityTolerance(0.01, 0.6) : new ParityTolerance(0.002, 0.05);
        };
    }

    /**
     * The loosest default over the types (F32's when there are none).
     *
     * @param types the tensor types taking part
     * @return the largest nll and the largest logit tolerance of {@link #of(GgmlType)} over them
     */
    public static ParityTolerance of(Collection<GgmlType> types) {
        ParityTolerance out = of(GgmlType.F32);
        for (GgmlType t : types) out = out.max(of(t));
        return out;
    }

    /**
     * The loosest default over every tensor type in these GGUF files (a model and its adapters).
     *
     * @param files the GGUF files whose tensors take part
     * @return {@link #of(Collection)} of their tensor types
     * @throws IOException                   if a file cannot be opened or mapped
     * @throws io.panlora.gguf.GgufException if a file is not a valid GGUF file
     */
    public static ParityTolerance forFiles(List<Path> files) throws IOException {
        java.util.Set<GgmlType> types = java.util.EnumSet.noneOf(GgmlType.class);
        for (Path p : files)
            try (GgufFile f = GgufFile.open(p)) {
                for (GgufTensorInfo t : f.tensors()) types.add(t.type());
            }
        return of(types);
    }

    /**
     * The looser of two tolerances, component by component.
     *
     * @param o the other tolerances
     * @return the larger nll and the larger logit tolerance of this and o
     */
    public ParityTolerance max(ParityTolerance o) {
        return new ParityTolerance(Math.max(nll, o.nll), Math.max(logit, o.logit));
    }

    /**
     * These tolerances with explicit overrides (null: keep), for options such as a user-given tolerance.
     *
     * @param nll   the new nll tolerance, or null to keep this one
     * @param logit the new logit tolerance, or null to keep this one
     * @return the new tolerances
     * @throws IllegalArgumentException if an override is negative or NaN
     */
    public ParityTolerance with(Double nll, Double logit) {
        return new ParityTolerance(nll != null ? nll : this.nll, logit != null ? logit : this.logit);
    }
}
