package io.panlora.convert;

import io.panlora.data.JsonParser;
import io.panlora.data.JsonValue;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
 * then the tensor bytes. Reads and writes F32, F16 and BF16 tensors as float arrays.
 *
 * <p>Tensor data is little-endian and row-major; {@code data_offsets} are {@code [begin, end)} byte offsets relative
 * to the end of the header. An optional {@code __metadata__} entry maps strings to strings. Whole files are held in
 * memory on both read and write, so this suits adapters, not base models.
 */
public final class Safetensors {
    private Safetensors() {}

    /**
     * A tensor: shape (outermost first, as in PyTorch) and values (row-major). The arrays are held as given, not
     * copied, and equality compares them by identity.
     *
     * @param shape  the dimensions, outermost first; empty for a scalar
     * @param values the elements in row-major order; its length should be the product of {@code shape}
     *               ({@link #write} does not check this)
     */
    public record Tensor(long[] shape, float[] values) {}

    /** The largest file {@link #read} takes: it is read into one Java array. */
    static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 16;

    /**
     * Reads every tensor of a file; a malformed file gives an IOException naming it and the problem. Every field of the
     * header is checked before it is used: dtype a string, shape an array of non-negative integers, data_offsets two
     * integers inside the data section whose span is exactly the shape's bytes (so no size read from the file allocates
     * more than the file holds). F16 and BF16 values are widened to float exactly. The {@code __metadata__} entry is
     * skipped. Tensors may overlap or leave gaps; that is not checked.
     *
     * @param file a safetensors file of at most about 2 GiB ({@code Integer.MAX_VALUE - 16} bytes); read whole into
     *             memory
     * @return the tensors by name, in header order
     * @throws IOException if the file cannot be read, is too large, or is malformed: a header length that does not fit,
     *                     a header that is not a JSON object, a tensor entry with a missing or mistyped field, a dtype
     *                     other than F32, F16 or BF16, or data offsets that do not match the shape or the file
     */
    public static Map<String, Tensor> read(Path file) throws IOException {
        long fileSize = Files.size(file);
        if (fileSize > MAX_FILE_BYTES)
            throw new IOException(file + ": " + fileSize + " bytes, more than the " + MAX_FILE_BYTES + " this reader takes");
        byte[] all = Files.readAllBytes(file);
        if (all.length < 8) throw new IOException(file + ": not a safetensors file (shorter than its header length)");
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (n < 2 || n > all.length - 8) throw new IOException(file + ": header length " + n + " does not fit the file (" + all.length + " bytes)");
        JsonValue header;
        try {
            header = JsonParser.parse(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        } catch (JsonParser.SyntaxError e) {
            throw new IOException(file + ": bad JSON header: " + e.getMessage(), e);
        }
        if (!(header instanceof JsonValue.Obj obj)) throw new IOException(file + ": the header is not a JSON object");
        long base = 8 + n, dataBytes = all.length - base;
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (var e : obj.fields().entrySet()) {
            if (e.getKey().equals("__metadata__")) continue;
            String what = file + ": tensor '" + e.getKey() + "'";
            if (!(e.getValue() instanceof JsonValue.Obj t)) throw new IOException(what + " is not an object");
            if (!(t.get("dtype") instanceof JsonValue.Str(String dtype))) throw new IOException(what + ": dtype is missing or not a string");
            int size = switch (dtype) {
                case "F32" -> 4;
                case "F16", "BF16" -> 2;
                default -> throw new IOException(what + " has dtype " + dtype + " (F32, F16, BF16 supported)");
            };
            if (!(t.get("shape") instanceof JsonValue.Arr(List<JsonValue> shp))) throw new IOException(what + ": shape is missing or not an array");
            if (!(t.get("data_offsets") instanceof JsonValue.Arr(List<JsonValue> off)) || off.size() != 2)
                throw new IOException(what + ": data_offsets is missing or not an array of two offsets");
            long[] shape = new long[shp.size()];
            for (int i = 0; i < shape.length; i++) shape[i] = nonNegative(shp.get(i), what + ": shape[" + i + "]");
            long count = elementsUpTo(shape, dataBytes);
            long begin = nonNegative(off.get(0), what + ": data_offsets[0]"), end = nonNegative(off.get(1), what + ": data_offsets[1]");
            if (end < begin || end > dataBytes || count > dataBytes / size || end - begin != count * size)
                throw new IOException(what + " data [" + begin + ", " + end + ") does not fit its shape " + java.util.Arrays.toString(shape) + " of "
                        + dtype + " or the " + dataBytes + " bytes of tensor data in the file");
            ByteBuffer bb = ByteBuffer.wrap(all, (int) (base + begin), (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
            float[] v = new float[(int) count];
            for (int i = 0; i < v.length; i++) {
                v[i] = switch (dtype) {
                    case "F32" -> bb.getFloat();
                    case "F16" -> Float.float16ToFloat(bb.getShort());
                    default -> Float.intBitsToFloat((bb.getShort() & 0xFFFF) << 16);
                };
            }
            out.put(e.getKey(), new Tensor(shape, v));
        }
        return out;
    }

    /** The product of the dimensions, or limit + 1 when it exceeds limit (no overflow on the way). */
    private static long elementsUpTo(long[] shape, long limit) {
        long count = 1;
        for (long d : shape) if (d == 0) return 0;
        for (long d : shape) {
            if (d > limit / count) return limit + 1;
            count *= d;
        }
        return count;
    }

    /** A JSON number that is a plain non-negative integer fitting a long (no sign, fraction or exponent), else an IOException. */
    private static long nonNegative(JsonValue v, String what) throws IOException {
        if (v instanceof JsonValue.Num(String text) && text.length() <= 18 && text.chars().allMatch(c -> c >= '0' && c <= '9'))
            return Long.parseLong(text);
        throw new IOException(what + " is " + (v instanceof JsonValue.Num(String text) ? text.length() > 40 ? text.substring(0, 40) + "..." : text
                : v.typeName()) + ", not a non-negative integer below 10^18");
    }

    /**
     * Writes tensors (dtype F32, F16 or BF16) with metadata, atomically: to a temporary file beside {@code file},
     * renamed over it (replacing an existing file) once complete; on failure the temporary file is deleted. The data is
     * not fsynced. The header is padded with spaces so the data starts at a multiple of 8 bytes; tensors are stored in
     * the map's order, back to back.
     *
     * @param file     the file to create or replace; its directory must exist
     * @param tensors  the tensors by name, in the order to write them; every tensor is written in {@code dtype}
     * @param dtype    {@code "F32"}, {@code "F16"} (IEEE half, round to nearest even) or {@code "BF16"} (round to
     *                 nearest even, NaN kept NaN)
     * @param metadata string pairs written as the {@code __metadata__} entry, e.g. {@code format = pt}; may be empty
     * @throws IOException              if the temporary file cannot be created, written or renamed
     * @throws IllegalArgumentException if {@code dtype} is not one of the three
     */
    public static void write(Path file, Map<String, Tensor> tensors, String dtype, Map<String, String> metadata) throws IOException {
        int size = switch (dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw new IllegalArgumentException("dtype must be F32, F16 or BF16, got " + dtype);
        };
        StringBuilder h = new StringBuilder("{\"__metadata__\":{");
        boolean first = true;
        for (var m : metadata.entrySet()) {
            h.append(first ? "" : ",").append(quote(m.getKey())).append(':').append(quote(m.getValue()));
            first = false;
        }
        h.append('}');
        long offset = 0;
        for (var e : tensors.entrySet()) {
            long bytes = (long) e.getValue().values().length * size;
            h.append(',').append(quote(e.getKey())).append(":{\"dtype\":\"").append(dtype).append("\",\"shape\":[");
            long[] s = e.getValue().shape();
            for (int i = 0; i < s.length; i++) h.append(i == 0 ? "" : ",").append(s[i]);
            h.append(String.format(Locale.ROOT, "],\"data_offsets\":[%d,%d]}", offset, offset + bytes));
            offset += bytes;
        }
        h.append('}');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        while (header.length % 8 != 0) header = h.append(' ').toString().getBytes(StandardCharsets.UTF_8); // data 8-byte aligned
        Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), ".safetensors", ".tmp");
        try {
            try (OutputStream os = Files.newOutputStream(tmp)) {
                os.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
                os.write(header);
                for (Tensor t : tensors.values()) {
                    ByteBuffer bb = ByteBuffer.allocate(t.values().length * size).order(ByteOrder.LITTLE_ENDIAN);
                    for (float v : t.values()) {
                        switch (dtype) {
                            case "F32" -> bb.putFloat(v);
                            case "F16" -> bb.putShort(Float.floatToFloat16(v));
                            default -> bb.putShort((short) (bf16(v)));
                        }
                    }
                    os.write(bb.array());
                }
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** float → bfloat16 bits, round to nearest even. */
    static int bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (bits >>> 16) | 0x40;
        return (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
    }

    static String quote(String s) {
        return io.panlora.data.JsonValue.quote(s);
    }
}
