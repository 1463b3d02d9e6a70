package io.panlora.lora;

import io.panlora.model.LlamaConfig;
import java.util.ArrayList;
import java.util.List;

/** A linear a LoRA slot can adapt: its GGUF name, short name and engine id ({@code enum pl_target}). */
public enum Target {
    ATTN_Q(0, "attn_q", "q"),
    ATTN_K(1, "attn_k", "k"),
    ATTN_V(2, "attn_v", "v"),
    ATTN_OUTPUT(3, "attn_output", "o"),
    FFN_GATE(4, "ffn_gate", "gate"),
    FFN_UP(5, "ffn_up", "up"),
    FFN_DOWN(6, "ffn_down", "down");

    public final int id;
    /** GGUF tensor base name ({@code blk.N.<gguf>.weight}). */
    public final String gguf;
    /** Short name used on the command line. */
    public final String shortName;

    Target(int id, String gguf, String shortName) {
        this.id = id;
        this.gguf = gguf;
        this.shortName = shortName;
    }

    /** The model weight this target adapts. */
    public io.panlora.model.WeightKind weight() {
        return io.panlora.model.WeightKind.valueOf(name());
    }

    /** Input features of this linear. */
    public long in(LlamaConfig c) {
        return switch (this) {
            case ATTN_OUTPUT -> c.nHead() * c.headDim();
            case FFN_DOWN -> c.nFf();
            default -> c.nEmbd();
        };
    }

    /** Output features of this linear. */
    public long out(LlamaConfig c) {
        return switch (this) {
            case ATTN_Q -> c.nHead() * c.headDim();
            case ATTN_K, ATTN_V -> c.nHeadKv() * c.headDim();
            case FFN_GATE, FFN_UP -> c.nFf();
            default -> c.nEmbd();
        };
    }

    /** Parses "q,k,v,o", "all", "attn", "ffn" or GGUF names (attn_q, ffn_down, q_proj …). */
    public static List<Target> parseList(String spec) {
        List<Target> out = new ArrayList<>();
        for (String part : spec.split(",")) {
            String s = part.trim().toLowerCase();
            if (s.isEmpty()) continue;
            switch (s) {
                case "all" -> { for (Target t : values()) add(out, t); continue; }
                case "attn" -> { for (Target t : List.of(ATTN_Q, ATTN_K, ATTN_V, ATTN_OUTPUT)) add(out, t); continue; }
                case "ffn", "mlp" -> { for (Target t : List.of(FFN_GATE, FFN_UP, FFN_DOWN)) add(out, t); continue; }
                default -> { }
            }
            add(out, byName(s));
        }
        if (out.isEmpty()) throw new IllegalArgumentException("no LoRA targets in '" + spec + "'");
        return out;
    }

    /** A target by short name, GGUF name or Hugging Face module name. */
    public static Target byName(String s) {
        for (Target t : values())
            if (t.shortName.equals(s) || t.gguf.equals(s) || t.hfName().equals(s)) return t;
        throw new IllegalArgumentException("unknown LoRA target '" + s + "' (use q,k,v,o,gate,up,down, all, attn or ffn)");
    }

    /** The target whose GGUF name is s (attn_q … ffn_down), or null. */
    public static Target findGguf(String s) {
        for (Target t : values()) if (t.gguf.equals(s)) return t;
        return null;
    }

    /** The Hugging Face module name (q_proj … down_proj). */
    public String hfName() {
        return switch (this) {
            case ATTN_Q -> "q_proj";
            case ATTN_K -> "k_proj";
            case ATTN_V -> "v_proj";
            case ATTN_OUTPUT -> "o_proj";
            case FFN_GATE -> "gate_proj";
            case FFN_UP -> "up_proj";
            case FFN_DOWN -> "down_proj";
        };
    }

    private static void add(List<Target> out, Target t) {
        if (!out.contains(t)) out.add(t);
    }
}
