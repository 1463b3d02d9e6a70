package io.panlora.spark;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The little JSON the jobs write ({@code results.json}): objects, arrays, strings, numbers (NaN and infinities as null). */
final class Json {
    private Json() {}

    /** A value as JSON text: a Map (keys in its order), a List, a String, a Number, a Boolean or null. */
    static String of(Object v) {
        StringBuilder b = new StringBuilder();
        write(b, v, "");
        return b.append('\n').toString();
    }

    private static void write(StringBuilder b, Object v, String indent) {
        switch (v) {
            case null -> b.append("null");
            case String s -> quote(b, s);
            case Boolean x -> b.append(x);
            case Double d -> b.append(Double.isFinite(d) ? number(d) : "null");
            case Float f -> b.append(Float.isFinite(f) ? Float.toString(f) : "null");
            case Number n -> b.append(n);
            case Map<?, ?> m -> {
                b.append('{');
                String in = indent + "  ";
                boolean first = true;
                for (var e : m.entrySet()) {
                    b.append(first ? "\n" : ",\n").append(in);
                    quote(b, String.valueOf(e.getKey()));
                    b.append(": ");
                    write(b, e.getValue(), in);
                    first = false;
                }
                b.append(first ? "}" : "\n" + indent + "}");
            }
            case List<?> l -> {
                b.append('[');
                String in = indent + "  ";
                for (int i = 0; i < l.size(); i++) {
                    b.append(i == 0 ? "\n" : ",\n").append(in);
                    write(b, l.get(i), in);
                }
                b.append(l.isEmpty() ? "]" : "\n" + indent + "]");
            }
            default -> quote(b, v.toString());
        }
    }

    private static String number(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : String.format(Locale.ROOT, "%.6g", d).replaceFirst("0+(e|$)", "$1")
                .replaceFirst("\\.(e|$)", "$1");
    }

    private static void quote(StringBuilder b, String s) {
        b.append(io.panlora.data.JsonValue.quote(s));
    }
}
