package io.panlora.gguf;

import java.util.List;
import java.util.Map;

/**
 * Human-readable summaries of GGUF files and values, for {@code inspect} and for debugging. Output is
 * plain text meant for people, not for parsing: its layout may change. Strings are shown quoted with
 * control characters escaped and cut after 120 characters, so every metadata key takes one line.
 */
public final class GgufDump {

    /** How many array elements {@link #summary(GgufFile)} shows before abbreviating. */
    public static final int DEFAULT_ARRAY_ITEMS = 8;

    private static final int MAX_STRING_CHARS = 120;

    private GgufDump() {
    }

    /**
     * A summary of {@code file}: header facts, all metadata (long arrays abbreviated to
     * {@link #DEFAULT_ARRAY_ITEMS} elements), a tensor table.
     *
     * @param file an open file; only its header is read, no tensor data
     * @return multi-line text, one item per line, ending with a line break
     */
    public static String summary(GgufFile file) {
        return summary(file, DEFAULT_ARRAY_ITEMS);
    }

    /**
     * A summary of {@code file}: its path; one line with version, file size, key and tensor counts,
     * total elements and bytes, alignment and data offset; every metadata key with its type and value;
     * and a table of tensors (name, shape, type, byte size, offset relative to the data section).
     *
     * @param file       an open file; only its header is read, no tensor data
     * @param arrayItems how many elements of each array to show before "... N more"; 0 or negative
     *                   shows only the length
     * @return multi-line text, one item per line, ending with a line break
     */
    public static String summary(GgufFile file, int arrayItems) {
        StringBuilder sb = new StringBuilder();
        long tensorBytes = file.tensors().stream().mapToLong(GgufTensorInfo::nbytes).sum();
        long elements = file.tensors().stream().mapToLong(GgufTensorInfo::nElements).sum();
        sb.append(file.path()).append('\n');
        sb.append(String.format("  GGUF v%d, %d bytes, %d metadata keys, %d tensors (%d elements, %d bytes), "
                        + "alignment %d, data at offset %d%n",
                file.version(), file.fileSize(), file.metadata().size(), file.tensors().size(), elements,
                tensorBytes, file.alignment(), file.dataOffset()));

        sb.append("metadata:\n");
        int keyWidth = file.metadata().keySet().stream().mapToInt(String::length).max().orElse(0);
        int typeWidth = file.metadata().values().stream().mapToInt(v -> typeName(v).length()).max().orElse(0);
        for (Map.Entry<String, GgufValue> e : file.metadata().entrySet()) {
            sb.append("  ").append(pad(e.getKey(), keyWidth)).append("  ")
                    .append(pad(typeName(e.getValue()), typeWidth)).append("  ")
                    .append(formatValue(e.getValue(), arrayItems)).append('\n');
        }

        sb.append("tensors:\n");
        List<GgufTensorInfo> tensors = file.tensors();
        int nameWidth = Math.max(4, tensors.stream().mapToInt(t -> t.name().length()).max().orElse(0));
        int shapeWidth = Math.max(5, tensors.stream().mapToInt(t -> t.shapeString().length()).max().orElse(0));
        sb.append("  ").append(pad("name", nameWidth)).append("  ").append(pad("shape", shapeWidth))
                .append("  ").append(pad("type", 7)).append(String.format("  %12s  %12s%n", "bytes", "offset"));
        for (GgufTensorInfo t : tensors) {
            sb.append("  ").append(pad(t.name(), nameWidth)).append("  ").append(pad(t.shapeString(), shapeWidth))
                    .append("  ").append(pad(t.type().name(), 7))
                    .append(String.format("  %12d  %12d%n", t.nbytes(), t.offset()));
        }
        return sb.toString();
    }

    /**
     * The type of a value as text.
     *
     * @param value a metadata value
     * @return the type's name, e.g. {@code UINT32}; for arrays the element type in brackets, e.g.
     *         {@code ARRAY[STRING]} (a nested array shows as {@code ARRAY[ARRAY]})
     */
    public static String typeName(GgufValue value) {
        if (value instanceof GgufValue.ArrayValue a) {
            return "ARRAY[" + a.elementType().name() + "]";
        }
        return value.type().name();
    }

    /**
     * A value as text: integers in decimal (UINT64 as unsigned), floats as Java prints them, strings
     * quoted and escaped; arrays as {@code (length) [e0, e1, ... N more]}.
     *
     * @param value    a metadata value
     * @param maxItems how many elements of each array (and of each nested array) to show; 0 or
     *                 negative shows only the length
     * @return the value on one line
     */
    public static String formatValue(GgufValue value, int maxItems) {
        return switch (value) {
            case GgufValue.IntValue(GgufValueType type, long v) -> GgufValue.formatInteger(type, v);
            case GgufValue.Float32Value(float f) -> Float.toString(f);
            case GgufValue.Float64Value(double d) -> Double.toString(d);
            case GgufValue.BoolValue(boolean b) -> Boolean.toString(b);
            case GgufValue.StringValue(String s) -> quote(s);
            case GgufValue.ArrayValue a -> formatArray(a, maxItems);
        };
    }

    private static String formatArray(GgufValue.ArrayValue array, int maxItems) {
        int shown = Math.min(array.size(), Math.max(0, maxItems));
        StringBuilder sb = new StringBuilder().append('(').append(array.size()).append(") [");
        for (int i = 0; i < shown; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(switch (array) {
                case GgufValue.IntArray a -> GgufValue.formatInteger(a.elementType(), a.get(i));
                case GgufValue.Float32Array a -> Float.toString(a.get(i));
                case GgufValue.Float64Array a -> Double.toString(a.get(i));
                case GgufValue.BoolArray a -> Boolean.toString(a.get(i));
                case GgufValue.StringArray a -> quote(a.values().get(i));
                case GgufValue.NestedArray a -> formatArray(a.values().get(i), maxItems);
            });
        }
        if (shown < array.size()) {
            sb.append(shown > 0 ? ", " : "").append("... ").append(array.size() - shown).append(" more");
        }
        return sb.append(']').toString();
    }

    // Quoted with control characters escaped, so a summary stays one line per key.
    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        int limit = Math.min(s.length(), MAX_STRING_CHARS);
        for (int i = 0; i < limit; i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
        if (s.length() > limit) {
            sb.append("... (").append(s.length()).append(" chars)");
        }
        return sb.toString();
    }

    private static String pad(String s, int width) {
        return s.length() >= width ? s : s + " ".repeat(width - s.length());
    }
}
