package io.panlora.gguf;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * One GGUF metadata value. The variants keep the exact on-disk type (UINT32 vs INT32 and so on), so
 * writing back a value read from a file reproduces its bytes.
 *
 * <p>Integers of every width are held in a {@code long}: unsigned types hold their value
 * (UINT64 holds the raw 64 bits, to be read with {@link Long#toUnsignedString}). Array variants
 * copy their arrays in and out, so a value is immutable and safe to share between threads; array
 * variants compare by content.
 *
 * <p>The static factories ({@link #uint32(long)}, {@link #string(String)}, {@link #float32Array},
 * ...) are shorthands for the record constructors.
 */
public sealed interface GgufValue {

    /**
     * The on-disk type tag of this value.
     *
     * @return the scalar type, or {@link GgufValueType#ARRAY} for every array variant
     */
    GgufValueType type();

    /**
     * A scalar of one of the eight integer types, range-checked for that type.
     *
     * @param type  the integer type it is written as
     * @param value the value; within the type's range (UINT8 0 to 255, INT8 -128 to 127, and so on);
     *              for UINT64 any long, whose 64 bits are read as unsigned
     */
    record IntValue(GgufValueType type, long value) implements GgufValue {
        /**
         * Checks that {@code type} is an integer type and {@code value} fits it.
         *
         * @throws NullPointerException     if {@code type} is null
         * @throws IllegalArgumentException if {@code type} is not an integer type or {@code value}
         *                                  is out of its range
         */
        public IntValue {
            Objects.requireNonNull(type, "type");
            checkIntegerType(type);
            checkRange(type, value);
        }

        @Override
        public String toString() {
            return type + " " + formatInteger(type, value);
        }
    }

    /**
     * A FLOAT32 scalar.
     *
     * @param value the value; any float, NaN and infinities included (written bit for bit)
     */
    record Float32Value(float value) implements GgufValue {
        @Override
        public GgufValueType type() {
            return GgufValueType.FLOAT32;
        }
    }

    /**
     * A FLOAT64 scalar.
     *
     * @param value the value; any double, NaN and infinities included (written bit for bit)
     */
    record Float64Value(double value) implements GgufValue {
        @Override
        public GgufValueType type() {
            return GgufValueType.FLOAT64;
        }
    }

    /**
     * A BOOL scalar (one byte, 0 or 1, on disk).
     *
     * @param value the value
     */
    record BoolValue(boolean value) implements GgufValue {
        @Override
        public GgufValueType type() {
            return GgufValueType.BOOL;
        }
    }

    /**
     * A STRING scalar (UTF-8 on disk, with a uint64 byte length).
     *
     * @param value the text; not null, may be empty
     */
    record StringValue(String value) implements GgufValue {
        /**
         * Rejects null.
         *
         * @throws NullPointerException if {@code value} is null
         */
        public StringValue {
            Objects.requireNonNull(value, "value");
        }

        @Override
        public GgufValueType type() {
            return GgufValueType.STRING;
        }
    }

    /**
     * An ARRAY value: all elements share {@link #elementType()}. On disk: the element type (uint32),
     * the element count (uint64), then the elements back to back with no padding.
     */
    sealed interface ArrayValue extends GgufValue {
        /**
         * The type of every element.
         *
         * @return the element type; {@link GgufValueType#ARRAY} for a {@link NestedArray}
         */
        GgufValueType elementType();

        /**
         * Number of elements.
         *
         * @return the element count, 0 or more
         */
        int size();

        @Override
        default GgufValueType type() {
            return GgufValueType.ARRAY;
        }
    }

    /**
     * An array of one of the integer types; elements held as longs, range-checked for that type.
     *
     * @param elementType the integer type every element is written as
     * @param values      the elements, each within the type's range (UINT64 elements are raw 64-bit
     *                    patterns); copied
     */
    record IntArray(GgufValueType elementType, long[] values) implements ArrayValue {
        /**
         * Checks the element type and every element's range; copies the array.
         *
         * @throws NullPointerException     if {@code elementType} or {@code values} is null
         * @throws IllegalArgumentException if {@code elementType} is not an integer type or an
         *                                  element is out of its range
         */
        public IntArray {
            Objects.requireNonNull(elementType, "elementType");
            checkIntegerType(elementType);
            values = values.clone();
            for (long v : values) {
                checkRange(elementType, v);
            }
        }

        /**
         * The elements.
         *
         * @return a fresh copy of the elements; changing it does not change this value
         */
        @Override
        public long[] values() {
            return values.clone();
        }

        /**
         * One element, without copying the array.
         *
         * @param i the index, 0 to {@code size() - 1}
         * @return element {@code i}
         * @throws ArrayIndexOutOfBoundsException if {@code i} is out of range
         */
        public long get(int i) {
            return values[i];
        }

        @Override
        public int size() {
            return values.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof IntArray other
                    && elementType == other.elementType
                    && Arrays.equals(values, other.values);
        }

        @Override
        public int hashCode() {
            return 31 * elementType.hashCode() + Arrays.hashCode(values);
        }

        @Override
        public String toString() {
            return GgufDump.formatValue(this, 8);
        }
    }

    /**
     * An array of FLOAT32.
     *
     * @param values the elements; copied
     */
    record Float32Array(float[] values) implements ArrayValue {
        /**
         * Copies the array.
         *
         * @throws NullPointerException if {@code values} is null
         */
        public Float32Array {
            values = values.clone();
        }

        /**
         * The elements.
         *
         * @return a fresh copy of the elements; changing it does not change this value
         */
        @Override
        public float[] values() {
            return values.clone();
        }

        /**
         * One element, without copying the array.
         *
         * @param i the index, 0 to {@code size() - 1}
         * @return element {@code i}
         * @throws ArrayIndexOutOfBoundsException if {@code i} is out of range
         */
        public float get(int i) {
            return values[i];
        }

        @Override
        public GgufValueType elementType() {
            return GgufValueType.FLOAT32;
        }

        @Override
        public int size() {
            return values.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Float32Array other && Arrays.equals(values, other.values);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(values);
        }

        @Override
        public String toString() {
            return GgufDump.formatValue(this, 8);
        }
    }

    /**
     * An array of FLOAT64.
     *
     * @param values the elements; copied
     */
    record Float64Array(double[] values) implements ArrayValue {
        /**
         * Copies the array.
         *
         * @throws NullPointerException if {@code values} is null
         */
        public Float64Array {
            values = values.clone();
        }

        /**
         * The elements.
         *
         * @return a fresh copy of the elements; changing it does not change this value
         */
        @Override
        public double[] values() {
            return values.clone();
        }

        /**
         * One element, without copying the array.
         *
         * @param i the index, 0 to {@code size() - 1}
         * @return element {@code i}
         * @throws ArrayIndexOutOfBoundsException if {@code i} is out of range
         */
        public double get(int i) {
            return values[i];
        }

        @Override
        public GgufValueType elementType() {
            return GgufValueType.FLOAT64;
        }

        @Override
        public int size() {
            return values.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Float64Array other && Arrays.equals(values, other.values);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(values);
        }

        @Override
        public String toString() {
            return GgufDump.formatValue(this, 8);
        }
    }

    /**
     * An array of BOOL.
     *
     * @param values the elements; copied
     */
    record BoolArray(boolean[] values) implements ArrayValue {
        /**
         * Copies the array.
         *
         * @throws NullPointerException if {@code values} is null
         */
        public BoolArray {
            values = values.clone();
        }

        /**
         * The elements.
         *
         * @return a fresh copy of the elements; changing it does not change this value
         */
        @Override
        public boolean[] values() {
            return values.clone();
        }

        /**
         * One element, without copying the array.
         *
         * @param i the index, 0 to {@code size() - 1}
         * @return element {@code i}
         * @throws ArrayIndexOutOfBoundsException if {@code i} is out of range
         */
        public boolean get(int i) {
            return values[i];
        }

        @Override
        public GgufValueType elementType() {
            return GgufValueType.BOOL;
        }

        @Override
        public int size() {
            return values.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BoolArray other && Arrays.equals(values, other.values);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(values);
        }

        @Override
        public String toString() {
            return GgufDump.formatValue(this, 8);
        }
    }

    /**
     * An array of STRING.
     *
     * @param values the elements; copied into an unmodifiable list, which the accessor returns
     */
    record StringArray(List<String> values) implements ArrayValue {
        /**
         * Copies the list; rejects null elements.
         *
         * @throws NullPointerException if {@code values} or one of its elements is null
         */
        public StringArray {
            values = List.copyOf(values);
        }

        @Override
        public GgufValueType elementType() {
            return GgufValueType.STRING;
        }

        @Override
        public int size() {
            return values.size();
        }

        @Override
        public String toString() {
            return GgufDump.formatValue(this, 8);
        }
    }

    /**
     * An array whose elements are themselves arrays (the spec allows nesting; rare in practice). The
     * inner arrays may have different element types and lengths. {@link GgufFile} reads at most 8
     * levels of nesting.
     *
     * @param values the inner arrays; copied into an unmodifiable list, which the accessor returns
     */
    record NestedArray(List<ArrayValue> values) implements ArrayValue {
        /**
         * Copies the list; rejects null elements.
         *
         * @throws NullPointerException if {@code values} or one of its elements is null
         */
        public NestedArray {
            values = List.copyOf(values);
        }

        @Override
        public GgufValueType elementType() {
            return GgufValueType.ARRAY;
        }

        @Override
        public int size() {
            return values.size();
        }

        @Override
        public String toString() {
            return GgufDump.formatValue(this, 8);
        }
    }

    /**
     * A UINT8 value (0..255).
     *
     * @param value the value, 0 to 255
     * @return a UINT8 {@link IntValue}
     * @throws IllegalArgumentException if {@code value} is out of range
     */
    static IntValue uint8(int value) {
        return new IntValue(GgufValueType.UINT8, value);
    }

    /**
     * An INT8 value.
     *
     * @param value the value, -128 to 127
     * @return an INT8 {@link IntValue}
     * @throws IllegalArgumentException if {@code value} is out of range
     */
    static IntValue int8(int value) {
        return new IntValue(GgufValueType.INT8, value);
    }

    /**
     * A UINT16 value (0..65535).
     *
     * @param value the value, 0 to 65535
     * @return a UINT16 {@link IntValue}
     * @throws IllegalArgumentException if {@code value} is out of range
     */
    static IntValue uint16(int value) {
        return new IntValue(GgufValueType.UINT16, value);
    }

    /**
     * An INT16 value.
     *
     * @param value the value, -32768 to 32767
     * @return an INT16 {@link IntValue}
     * @throws IllegalArgumentException if {@code value} is out of range
     */
    static IntValue int16(int value) {
        return new IntValue(GgufValueType.INT16, value);
    }

    /**
     * A UINT32 value (0..2^32-1).
     *
     * @param value the value, 0 to 2^32-1 (4294967295)
     * @return a UINT32 {@link IntValue}
     * @throws IllegalArgumentException if {@code value} is out of range
     */
    static IntValue uint32(long value) {
        return new IntValue(GgufValueType.UINT32, value);
    }

    /**
     * An INT32 value.
     *
     * @param value the value; any int
     * @return an INT32 {@link IntValue}
     */
    static IntValue int32(int value) {
        return new IntValue(GgufValueType.INT32, value);
    }

    /**
     * A UINT64 value; the long's 64 bits are taken as unsigned.
     *
     * @param value the raw 64 bits; a negative long stands for a value of 2^63 or more
     * @return a UINT64 {@link IntValue}
     */
    static IntValue uint64(long value) {
        return new IntValue(GgufValueType.UINT64, value);
    }

    /**
     * An INT64 value.
     *
     * @param value the value; any long
     * @return an INT64 {@link IntValue}
     */
    static IntValue int64(long value) {
        return new IntValue(GgufValueType.INT64, value);
    }

    /**
     * A FLOAT32 value.
     *
     * @param value the value
     * @return a {@link Float32Value}
     */
    static Float32Value float32(float value) {
        return new Float32Value(value);
    }

    /**
     * A FLOAT64 value.
     *
     * @param value the value
     * @return a {@link Float64Value}
     */
    static Float64Value float64(double value) {
        return new Float64Value(value);
    }

    /**
     * A BOOL value.
     *
     * @param value the value
     * @return a {@link BoolValue}
     */
    static BoolValue bool(boolean value) {
        return new BoolValue(value);
    }

    /**
     * A STRING value.
     *
     * @param value the text; not null, may be empty
     * @return a {@link StringValue}
     * @throws NullPointerException if {@code value} is null
     */
    static StringValue string(String value) {
        return new StringValue(value);
    }

    /**
     * An array of the integer type {@code elementType}.
     *
     * @param elementType one of the eight integer types
     * @param values      the elements, each within the type's range; copied
     * @return an {@link IntArray}
     * @throws IllegalArgumentException if {@code elementType} is not an integer type or an element is
     *                                  out of its range
     */
    static IntArray intArray(GgufValueType elementType, long... values) {
        return new IntArray(elementType, values);
    }

    /**
     * An INT32 array.
     *
     * @param values the elements; copied
     * @return an {@link IntArray} of element type INT32
     */
    static IntArray int32Array(int... values) {
        return new IntArray(GgufValueType.INT32, Arrays.stream(values).asLongStream().toArray());
    }

    /**
     * A FLOAT32 array.
     *
     * @param values the elements; copied
     * @return a {@link Float32Array}
     */
    static Float32Array float32Array(float... values) {
        return new Float32Array(values);
    }

    /**
     * A FLOAT64 array.
     *
     * @param values the elements; copied
     * @return a {@link Float64Array}
     */
    static Float64Array float64Array(double... values) {
        return new Float64Array(values);
    }

    /**
     * A BOOL array.
     *
     * @param values the elements; copied
     * @return a {@link BoolArray}
     */
    static BoolArray boolArray(boolean... values) {
        return new BoolArray(values);
    }

    /**
     * A STRING array.
     *
     * @param values the elements, none null; copied
     * @return a {@link StringArray}
     * @throws NullPointerException if {@code values} or an element is null
     */
    static StringArray stringArray(List<String> values) {
        return new StringArray(values);
    }

    /**
     * A STRING array.
     *
     * @param values the elements, none null; copied
     * @return a {@link StringArray}
     * @throws NullPointerException if {@code values} or an element is null
     */
    static StringArray stringArray(String... values) {
        return new StringArray(List.of(values));
    }

    /**
     * An array of arrays.
     *
     * @param values the inner arrays, none null; copied
     * @return a {@link NestedArray}
     * @throws NullPointerException if {@code values} or an element is null
     */
    static NestedArray nestedArray(List<ArrayValue> values) {
        return new NestedArray(values);
    }

    private static void checkIntegerType(GgufValueType type) {
        if (!type.isInteger()) {
            throw new IllegalArgumentException(type + " is not an integer type");
        }
    }

    private static void checkRange(GgufValueType type, long v) {
        boolean fits = switch (type) {
            case UINT8 -> v >= 0 && v <= 0xFFL;
            case INT8 -> v >= Byte.MIN_VALUE && v <= Byte.MAX_VALUE;
            case UINT16 -> v >= 0 && v <= 0xFFFFL;
            case INT16 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
            case UINT32 -> v >= 0 && v <= 0xFFFF_FFFFL;
            case INT32 -> v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
            default -> true; // UINT64 (raw bits) and INT64 take any long
        };
        if (!fits) {
            throw new IllegalArgumentException(v + " is out of range for " + type);
        }
    }

    /**
     * Decimal text of an integer of this type.
     *
     * @param type  the integer type the value belongs to
     * @param value the value as held in an {@link IntValue} or {@link IntArray}
     * @return the value in decimal, UINT64 read as unsigned (e.g. {@code 18446744073709551615} for
     *         -1); other types as signed
     */
    static String formatInteger(GgufValueType type, long value) {
        return type == GgufValueType.UINT64 ? Long.toUnsignedString(value) : Long.toString(value);
    }
}
