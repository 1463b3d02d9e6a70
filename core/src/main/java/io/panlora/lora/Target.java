package io.panlora.lora;

import io.panlora.model.LlamaConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * A linear a LoRA slot can adapt: its GGUF name, short name and engine id ({@code enum pl_target}). Each target also has a
 * Hugging Face module name ({@link #hfName()}) and input/output sizes that follow from the model's hyperparameters
 * ({@link #in}, {@link #out}); a slot of rank r on it has A of [r][in] and B of [out][r].
 */
public enum Target {
    /** The query projection {@code attn_q} ({@code q}, {@code q_proj}): n_embd → n_head·head_dim. */
    ATTN_Q(0, "attn_q", "q"),
    /** The key projection {@code attn_k} ({@code k}, {@code k_proj}): n_embd → n_head_kv·head_dim. */
    ATTN_K(1, "attn_k", "k"),
    /** The value projection {@code attn_v} ({@code v}, {@code v_proj}): n_embd → n_head_kv·head_dim. */
    ATTN_V(2, "attn_v", "v"),
    /** The attention output projection {@code attn_output} ({@code o}, {@code o_proj}): n_head·head_dim → n_embd. */
    ATTN_OUTPUT(3, "attn_output", "o"),
    /** The SwiGLU gate projection {@code ffn_gate} ({@code gate}, {@code gate_proj}): n_embd → n_ff. */
    FFN_GATE(4, "ffn_gate", "gate"),
    /** The SwiGLU up projection {@code ffn_up} ({@code up}, {@code up_proj}): n_embd → n_ff. */
    FFN_UP(5, "ffn_up", "up"),
    /** The feed-forward down projection {@code ffn_down} ({@code down}, {@code down_proj}): n_ff → n_embd. */
    FFN_DOWN(6, "ffn_down", "down");

    /** The engine's id for this target ({@code enum pl_target} in {@code panlora.h}, 0..6; the values never change). */
    public final int id;
    /** GGUF tensor base name: the weight is {@code blk.N.<gguf>.weight}, its adapter factors {@code blk.N.<gguf>.weight.lora_a} and {@code .lora_b}. */
    public final String gguf;
    /** Short name used on the command line ({@code q}, {@code k}, {@code v}, {@code o}, {@code gate}, {@code up}, {@code down}). */
    public final String shortName;

    Target(int id, String gguf, String shortName) {
        this.id = id;
        this.gguf = gguf;
        this.shortName = shortName;
    }

    /**
     * The model weight this target adapts.
     *
     * @return the weight kind of the same name (for example {@link io.panlora.model.WeightKind#ATTN_Q} for {@link #ATTN_Q})
     */
    public io.panlora.model.WeightKind weight() {
        return io.panlora.model.WeightKind.valueOf(name());
    }

    /**
     * Input features of this linear: the length of a row of A, and the slot's {@code in}.
     *
     * @param c the model's hyperparameters
     * @return n_head·head_dim for {@link #ATTN_OUTPUT}, n_ff for {@link #FFN_DOWN}, n_embd for every other target
     */
    public long in(LlamaConfig c) {
        return switch (this) {
            case ATTN_OUTPUT -> c.nHead() * c.headDim();
            case FFN_DOWN -> c.nFf();
            default -> c.nEmbd();
        };
    }

    /**
     * Output features of this linear: the number of rows of B, and the slot's {@code out}.
     *
     * @param c the model's hyperparameters
     * @return n_head·head_dim for {@link #ATTN_Q}, n_head_kv·head_dim for {@link #ATTN_K} and {@link #ATTN_V}, n_ff for
     *         {@link #FFN_GATE} and {@link #FFN_UP}, n_embd for {@link #ATTN_OUTPUT} and {@link #FFN_DOWN}
     */
    public long out(LlamaConfig c) {
        return switch (this) {
            case ATTN_Q -> c.nHead() * c.headDim();
            case ATTN_K, ATTN_V -> c.nHeadKv() * c.headDim();
            case FFN_GATE, FFN_UP -> c.nFf();
            default -> c.nEmbd();
        };
    }

    /**
     * Parses a comma-separated target list as the command line takes it: short names ({@code q,k,v,o,gate,up,down}), GGUF
     * names ({@code attn_q} … {@code ffn_down}), Hugging Face module names ({@code q_proj} … {@code down_proj}), and the
     * groups {@code all} (every target), {@code attn} (q, k, v, o) and {@code ffn} or {@code mlp} (gate, up, down). Items
     * are trimmed and lower-cased; empty items are skipped; a target named twice is listed once, where it first appears.
     *
     * @param spec the list, for example {@code "q,v"} or {@code "attn,ffn_down"}
     * @return the targets in the order given, without duplicates; never empty
     * @throws IllegalArgumentException if an item names no target, or the list names none at all (for example {@code ""})
     */
    public static List<Target> parseList(String spec) {
        List<Target> out = new ArrayList<>();
        for (String part : spec.split(",")) {
            String s = part.trim().toLowerCase(java.util.Locale.ROOT);
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

    /**
     * A target by short name, GGUF name or Hugging Face module name (case-sensitive; group names such as {@code all} are
     * {@link #parseList}'s).
     *
     * @param s the name: {@code q}, {@code attn_q} or {@code q_proj} and so on
     * @return the target so named
     * @throws IllegalArgumentException if no target has that name
     */
    public static Target byName(String s) {
        for (Target t : values())
            if (t.shortName.equals(s) || t.gguf.equals(s) || t.hfName().equals(s)) return t;
        throw new IllegalArgumentException("unknown LoRA target '" + s + "' (use q,k,v,o,gate,up,down, all, attn or ffn)");
    }

    /**
     * The target whose GGUF name is s; unlike {@link #byName} this accepts GGUF names only and does not throw.
     *
     * @param s a GGUF tensor base name ({@code attn_q} … {@code ffn_down})
     * @return the target, or null when s is no target's GGUF name
     */
    public static Target findGguf(String s) {
        for (Target t : values()) if (t.gguf.equals(s)) return t;
        return null;
    }

    /**
     * The Hugging Face (PEFT) module name of this linear.
     *
     * @return {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code o_proj}, {@code gate_proj}, {@code up_proj} or
     *         {@code down_proj}
     */
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
