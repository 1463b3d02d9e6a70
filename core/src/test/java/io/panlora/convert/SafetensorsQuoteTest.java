package io.panlora.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.panlora.data.JsonParser;
import io.panlora.data.JsonValue;
import org.junit.jupiter.api.Test;

/** Names and metadata written into safetensors headers and adapter_config.json are valid JSON whatever they hold. */
class SafetensorsQuoteTest {
    @Test
    void controlCharactersQuotesAndBackslashesRoundTrip() throws Exception {
        String nasty = "a\"b\\c\nd\re\tf\u0001g\u001fh é 日本";
        JsonValue v = JsonParser.parse(Safetensors.quote(nasty));
        assertEquals(nasty, ((JsonValue.Str) v).value());
    }
}
