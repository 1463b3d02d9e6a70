package io.panlora.data;

import io.panlora.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A test tokenizer: one token per UTF-8 byte (id = byte + 3), BOS 1, EOS 2, and with parseSpecial
 * "&lt;s&gt;" / "&lt;/s&gt;" become BOS / EOS and the strings of {@link #SPECIALS} become ids 259, 260, ...
 */
final class ByteTokenizer extends StubTokenizer {
    static final List<String> SPECIALS = List.of("<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eot_id|>", "<start_of_turn>", "<end_of_turn>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>");
    static final int BOS = 1;
    static final int EOS = 2;
    static final int FIRST_SPECIAL = 259;

    private final int bos;
    private final int eos;
    private final boolean addBos;
    private final String chatTemplate;

    ByteTokenizer(int bos, int eos, boolean addBos, String chatTemplate) {
        this.bos = bos;
        this.eos = eos;
        this.addBos = addBos;
        this.chatTemplate = chatTemplate;
    }

    /** BOS 1 (added), EOS 2, no chat template. */
    ByteTokenizer() {
        this(BOS, EOS, true, null);
    }

    /** The default tokenizer, with a model chat template. */
    static ByteTokenizer withTemplate(String jinja) {
        return new ByteTokenizer(BOS, EOS, true, jinja);
    }

    /** The id of a special string. */
    static int special(String text) {
        int i = SPECIALS.indexOf(text);
        if (i < 0) throw new IllegalArgumentException(text);
        return FIRST_SPECIAL + i;
    }

    /** The byte ids of plain text. */
    static int[] bytes(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) ids[i] = (b[i] & 0xFF) + 3;
        return ids;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        List<Integer> ids = new ArrayList<>();
        if (addSpecial && addBos && bos >= 0) ids.add(bos);
        int i = 0;
        outer:
        while (i < text.length()) {
            if (parseSpecial) {
                if (bos >= 0 && text.startsWith("<s>", i)) {
                    ids.add(bos);
                    i += 3;
                    continue;
                }
                if (eos >= 0 && text.startsWith("</s>", i)) {
                    ids.add(eos);
                    i += 4;
                    continue;
                }
                for (int s = 0; s < SPECIALS.size(); s++) {
                    if (text.startsWith(SPECIALS.get(s), i)) {
                        ids.add(FIRST_SPECIAL + s);
                        i += SPECIALS.get(s).length();
                        continue outer;
                    }
                }
            }
            int cp = text.codePointAt(i);
            for (int id : bytes(new String(Character.toChars(cp)))) ids.add(id);
            i += Character.charCount(cp);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public String decode(int[] ids) {
        StringBuilder out = new StringBuilder();
        ByteArrayOutputStream pending = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id >= 3 && id < FIRST_SPECIAL) {
                pending.write(id - 3);
                continue;
            }
            out.append(pending.toString(StandardCharsets.UTF_8));
            pending.reset();
            if (id == BOS) out.append("<s>");
            else if (id == EOS) out.append("</s>");
            else if (id >= FIRST_SPECIAL && id < FIRST_SPECIAL + SPECIALS.size()) out.append(SPECIALS.get(id - FIRST_SPECIAL));
        }
        out.append(pending.toString(StandardCharsets.UTF_8));
        return out.toString();
    }

    @Override
    public int bos() {
        return bos;
    }

    @Override
    public int eos() {
        return eos;
    }

    @Override
    public int vocabSize() {
        return FIRST_SPECIAL + SPECIALS.size();
    }

    @Override
    public boolean isEog(int id) {
        return id == eos || id == special("<|im_end|>") || id == special("<|eot_id|>") || id == special("<end_of_turn>") || id == special("<|end|>");
    }

    @Override
    public String chatTemplate() {
        return chatTemplate;
    }
}
