package io.panlora.model;

import io.panlora.bindings.gen.panlora_h;
import java.util.Locale;

/** How a CUDA model holds its frozen base weights ({@code enum pl_weight_placement}); ignored on the CPU. */
public enum WeightPlacement {
    /** RESIDENT when the BF16 weights and the work space fit on the device, else STREAMED. */
    AUTO("auto"),
    /** Every weight dequantized once to BF16 on the device. */
    RESIDENT("resident"),
    /** BF16 weights in pinned host memory, copied per layer into a device scratch buffer. */
    STREAMED("streamed"),
    /** F32 on the device with F32 GEMMs: the reference mode compared with the CPU. */
    F32("f32");

    /** The CLI name ({@code --weights}). */
    public final String cliName;

    WeightPlacement(String cliName) {
        this.cliName = cliName;
    }

    /**
     * The engine's id for {@code pl_model_set_placement}.
     *
     * @return the matching {@code PL_WEIGHTS_*} constant ({@link #F32}: {@code PL_WEIGHTS_RESIDENT_F32})
     */
    public int engineId() {
        return switch (this) {
            case AUTO -> panlora_h.PL_WEIGHTS_AUTO();
            case RESIDENT -> panlora_h.PL_WEIGHTS_RESIDENT();
            case STREAMED -> panlora_h.PL_WEIGHTS_STREAMED();
            case F32 -> panlora_h.PL_WEIGHTS_RESIDENT_F32();
        };
    }

    /**
     * Reads a CLI name.
     *
     * @param s {@code auto}, {@code resident}, {@code streamed} or {@code f32}, case-insensitive, surrounding white space
     *          ignored; null reads as the empty string, which is refused
     * @return the placement
     * @throws IllegalArgumentException if {@code s} names none
     */
    public static WeightPlacement parse(String s) {
        String k = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
        for (WeightPlacement p : values()) if (p.cliName.equals(k)) return p;
        throw new IllegalArgumentException("unknown weight placement '" + s + "' (auto, resident, streamed or f32)");
    }

    /**
     * The CLI name, as {@link #parse} reads it.
     *
     * @return {@link #cliName}
     */
    @Override
    public String toString() { return cliName; }
}
