package io.panlora.generate;

import io.panlora.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Turns generated tokens into text as they come, holding back bytes of a UTF-8 sequence split across tokens. */
public final class TextStream {
    private final Tokenizer tok;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private final CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
    private boolean first = true;

    public TextStream(Tokenizer tok) {
        this.tok = tok;
    }

    /** Adds a token; returns the text that is complete so far. */
    public String push(int id) {
        byte[] b = tok.pieceBytes(id);
        pending.writeBytes(b);
        first = false;
        return drain(false);
    }

    /** Returns whatever is left (incomplete sequences replaced by U+FFFD). */
    public String flush() {
        return drain(true);
    }

    private String drain(boolean end) {
        byte[] all = pending.toByteArray();
        ByteBuffer in = ByteBuffer.wrap(all);
        CharBuffer out = CharBuffer.allocate(all.length + 4);
        dec.reset();
        CoderResult r = dec.decode(in, out, end);
        if (end) dec.flush(out);
        pending.reset();
        if (in.hasRemaining()) pending.write(all, in.position(), in.remaining());
        out.flip();
        return out.toString();
    }
}
