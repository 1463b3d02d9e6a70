package io.panlora.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into the words that byte-level BPE merges within, chosen by {@code tokenizer.ggml.pre}.
 *
 * <p>Like llama.cpp, a pre-tokenizer is a list of regular expressions applied in turn: each one splits
 * every current segment into its matches and the text between them (both kept), and lookaheads never see
 * past the segment. {@code \s} means Unicode White_Space, {@code \p{L}} / {@code \p{N}} Unicode letters /
 * numbers. Names llama.cpp knows but this class does not model ({@code deepseek-llm}, {@code deepseek-v3},
 * {@code chameleon}, {@code qwen35}...) and unknown names get the GPT-2 expression with {@link #recognized()} false; the
 * BPE tokenizer refuses those (their ids would differ from llama.cpp's, which also refuses names it does not know).
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class PreTokenizer {

    private static final String GPT2 =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    // Llama 3's "(?i:'s|'t|...)" written with explicit case classes, as llama.cpp does.
    private static final String LLAMA3 =
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    // Qwen2: as Llama 3 but digits one at a time.
    private static final String QWEN2 =
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    // Tekken: "(?=[\p{L}])[^a-z]" written as the class intersection [\p{L}&&[^a-z]] (no group recursion).
    private static final String TEKKEN =
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{L}&&[^a-z]]*[\\p{L}&&[^A-Z]]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}&&[^a-z]]+[\\p{L}&&[^A-Z]]*"
            + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String BLOOM = " ?[^(\\s|.,!?…。，、।۔،)]+";

    /** The regex lists, one per family of pre-tokenizer names. */
    private enum Family {
        DEFAULT("default", "[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"),
        GPT2_FAMILY("gpt-2", GPT2),
        LLAMA3_FAMILY("llama3", LLAMA3),
        QWEN2_FAMILY("qwen2", QWEN2),
        // digits split one by one first, then the GPT-2 expression (starcoder, smollm, command-r, ...)
        STARCODER("starcoder", "\\p{N}", GPT2),
        FALCON("falcon", "[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"),
        DEEPSEEK_CODER("deepseek-coder", "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"),
        BLOOM_FAMILY("bloom", BLOOM),
        VIKING("viking", BLOOM, "\\p{N}"),
        TEKKEN_FAMILY("tekken", TEKKEN);

        final String familyName;
        final Pattern[] patterns;

        Family(String familyName, String... regexes) {
            this.familyName = familyName;
            this.patterns = new Pattern[regexes.length];
            for (int i = 0; i < regexes.length; i++) {
                patterns[i] = Pattern.compile(regexes[i], Pattern.UNICODE_CHARACTER_CLASS);
            }
        }
    }

    private record Entry(Family family, boolean cleanSpaces, boolean ignoreMerges, boolean addBos) {
    }

    private static final Map<String, Entry> BY_NAME = new HashMap<>();

    static {
        register(Family.DEFAULT, true, false, false, "default");
        register(Family.LLAMA3_FAMILY, true, true, true,
                "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2");
        register(Family.LLAMA3_FAMILY, true, false, false, "dbrx", "smaug-bpe", "chatglm-bpe");
        register(Family.GPT2_FAMILY, true, false, false,
                "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
                "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion");
        register(Family.QWEN2_FAMILY, false, false, false, "qwen2", "deepseek-r1-qwen");
        register(Family.QWEN2_FAMILY, true, false, false, "stablelm2", "megrez");
        register(Family.STARCODER, true, false, false, "starcoder", "refact", "codeshell", "exaone", "minerva-7b");
        register(Family.STARCODER, false, false, false, "command-r", "smollm");
        register(Family.FALCON, true, false, false, "falcon");
        register(Family.DEEPSEEK_CODER, false, false, false, "deepseek-coder");
        register(Family.BLOOM_FAMILY, true, false, false, "bloom", "gpt3-finnish");
        register(Family.BLOOM_FAMILY, false, false, false, "poro-chat");
        register(Family.VIKING, false, false, false, "viking");
        register(Family.TEKKEN_FAMILY, false, true, true, "tekken");
    }

    private static void register(Family family, boolean cleanSpaces, boolean ignoreMerges, boolean addBos, String... names) {
        for (String name : names) {
            BY_NAME.put(name, new Entry(family, cleanSpaces, ignoreMerges, addBos));
        }
    }

    private final String name;
    private final Entry entry;
    private final boolean recognized;

    private PreTokenizer(String name, Entry entry, boolean recognized) {
        this.name = name;
        this.entry = entry;
        this.recognized = recognized;
    }

    /**
     * The pre-tokenizer for a {@code tokenizer.ggml.pre} value; null or empty means llama.cpp's "default".
     * Never fails: an unknown name gives the GPT-2 expression with {@link #recognized()} false.
     *
     * @param pre the name, matched exactly (case-sensitive), e.g. {@code "llama-bpe"} or {@code "qwen2"}; may
     *            be null
     * @return the pre-tokenizer
     */
    public static PreTokenizer forName(String pre) {
        String name = pre == null || pre.isEmpty() ? "default" : pre;
        Entry e = BY_NAME.get(name);
        if (e != null) {
            return new PreTokenizer(name, e, true);
        }
        // deepseek-llm / deepseek-v3 / chameleon and unknown names: nearest general-purpose split is GPT-2's.
        boolean clean = !(name.equals("deepseek-llm") || name.equals("deepseek-v3") || name.equals("chameleon"));
        boolean addBos = name.equals("chameleon");
        return new PreTokenizer(name, new Entry(Family.GPT2_FAMILY, clean, false, addBos), false);
    }

    /**
     * The tokenizer.ggml.pre names modelled here, sorted.
     *
     * @return an unmodifiable list of the names for which {@link #recognized()} is true
     */
    public static List<String> supportedNames() {
        return BY_NAME.keySet().stream().sorted().toList();
    }

    /**
     * The name this pre-tokenizer was asked for.
     *
     * @return the name given to {@link #forName}, or {@code "default"} for null or empty
     */
    public String name() {
        return name;
    }

    /**
     * The regex family actually applied, shared by several names.
     *
     * @return default, gpt-2, llama3, qwen2, starcoder, falcon, deepseek-coder, bloom, viking or tekken
     */
    public String family() {
        return entry.family.familyName;
    }

    /**
     * Whether the name is modelled here (one of {@link #supportedNames()}).
     *
     * @return false when the name was not known and the GPT-2 expression stands in for it
     */
    public boolean recognized() {
        return recognized;
    }

    /**
     * Whether llama.cpp's detokenizer cleans spaces before punctuation for this name ({@code clean_spaces}).
     *
     * @return true if {@link Tokenizer#detokenize} applies the clean-up
     */
    public boolean cleanSpaces() {
        return entry.cleanSpaces;
    }

    /**
     * Whether a whole word found in the vocabulary is taken as one token before any merge ({@code ignore_merges}).
     *
     * @return true for the Llama 3 names and tekken
     */
    public boolean ignoreMerges() {
        return entry.ignoreMerges;
    }

    /**
     * llama.cpp's {@code add_bos} default for this name when the GGUF does not say.
     *
     * @return true if BOS is added by default (see {@link TokenizerSpec#defaultAddBos})
     */
    public boolean defaultAddBos() {
        return entry.addBos;
    }

    /**
     * Splits text into words; concatenating the words gives the text back. Byte-level BPE merges never
     * cross a word boundary.
     *
     * @param text the text, without special tokens; not null
     * @return the non-empty words in order (empty for empty text)
     */
    public List<String> split(String text) {
        int[] bounds = splitBounds(text);
        List<String> words = new ArrayList<>(bounds.length);
        int start = 0;
        for (int end : bounds) {
            words.add(text.substring(start, end));
            start = end;
        }
        return words;
    }

    /** The end offset (in chars) of each word, in order. */
    int[] splitBounds(String text) {
        IntList ends = new IntList(Math.max(4, text.length() / 4));
        if (text.isEmpty()) {
            return ends.toArray();
        }
        ends.add(text.length());
        for (Pattern pattern : entry.family.patterns) {
            IntList next = new IntList(ends.size() * 2);
            Matcher m = pattern.matcher(text);
            int start = 0;
            for (int k = 0; k < ends.size(); k++) {
                int end = ends.get(k);
                m.region(start, end);
                int pos = start;
                while (m.find()) {
                    if (m.end() == m.start()) {
                        continue;
                    }
                    if (m.start() > pos) {
                        next.add(m.start());
                    }
                    next.add(m.end());
                    pos = m.end();
                }
                if (pos < end) {
                    next.add(end);
                }
                start = end;
            }
            ends = next;
        }
        return ends.toArray();
    }

    @Override
    public String toString() {
        return "PreTokenizer[" + name + " -> " + family() + "]";
    }
}
