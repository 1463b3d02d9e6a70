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
 * copy their arrays in and out, so a value is immutable.
 */
public sealed interface GgufValue {

    /** The on-disk type tag of this value. */
    GgufValueType type();

    /** A scalar of one of the eight integer types, range-checked for that type. */
    record IntValue(GgufValueType type, long value) implements GgufValue {
        /** Checks that {@code type} is an integer type and {@code value} fits it. */
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

    /** A FLOAT32 scalar. */
    record Float32Value(float value) implements GgufValue {
        @Override
        public GgufValueType type() {
            return GgufValueType.FLOAT32;
        }
    }

    /** A FLOAT64 scalar. */
    record Float64Value(double value) implements GgufValue {
        @Override
        public GgufValueType type() {
            return GgufValueType.FLOAT64;
        }
    }

    /** A BOOL scalar (one byte, 0 or 1, on disk). */
    record BoolValue(boolean value) implements GgufValue {
        @Override
        public GgufValueType type() {
            return GgufValueType.BOOL;
        }
    }

    /** A STRING scalar (UTF-8 on disk). */
    record StringValue(String value) implements GgufValue {
        /** Rejects null. */
        public StringValue {
            Objects.requireNonNull(value, "value");
        }

        @Override
        public GgufValueType type() {
            return GgufValueType.STRING;
        }
    }

    /** An ARRAY value: all elements share {@link #elementType()}. */
    sealed interface ArrayValue extends GgufValue {
        /** The type of every element. */
        GgufValueType elementType();

        /** Number of elements. */
        int size();

        @Override
        default GgufValueType type() {
            return GgufValueType.ARRAY;
        }
    }

    /** An array of one of the integer types; elements held as longs, range-checked for that type. */
    record IntArray(GgufValueType elementType, long[] values) implements ArrayValue {
        /** Checks the element type and every element's range; copies the array. */
        public IntArray {
            Objects.requireNonNull(elementType, "elementType");
            checkIntegerType(elementType);
            values = values.clone();
            for (long v : values) {
                checkRange(elementType, v);
            }
        }

        /** A copy of the elements. */
        @Override
        public long[] values() {
            return values.clone();
        }

        /** Element {@code i}, without copying the array. */
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

    /** An array of FLOAT32. */
    record Float32Array(float[] values) implements ArrayValue {
        /** Copies the array. */
        public Float32Array {
            values = values.clone();
        }

        /** A copy of the elements. */
        @Override
        public float[] values() {
            return values.clone();
        }

        /** Element {@code i}, without copying the array. */
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

    /** An array of FLOAT64. */
    record Float64Array(double[] values) implements ArrayValue {
        /** Copies the array. */
        public Float64Array {
            values = values.clone();
        }

        /** A copy of the elements. */
        @Override
        public double[] values() {
            return values.clone();
        }

        /** Element {@code i}, without copying the array. */
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

    /** An array of BOOL. */
    record BoolArray(boolean[] values) implements ArrayValue {
        /** Copies the array. */
        public BoolArray {
            values = values.clone();
        }

        /** A copy of the elements. */
        @Override
        public boolean[] values() {
            return values.clone();
        }

        /** Element {@code i}, without copying the array. */
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

    /** An array of STRING. */
    record StringArray(List<String> values) implements ArrayValue {
        /** Copies the list; rejects null elements. */
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

    /** An array whose elements are themselves arrays (the spec allows nesting; rare in practice). */
    record NestedArray(List<ArrayValue> values) implements ArrayValue {
        /** Copies the list; rejects null elements. */
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

    /** A UINT8 value (0..255). */
    static IntValue uint8(int value) {
        return new IntValue(GgufValueType.UINT8, value);
    }

    /** An INT8 value. */
    static IntValue int8(int value) {
        return new IntValue(GgufValueType.INT8, value);
    }

    /** A UINT16 value (0..65535). */
    static IntValue uint16(int value) {
        return new IntValue(GgufValueType.UINT16, value);
    }

    /** An INT16 value. */
    static IntValue int16(int value) {
        return new IntValue(GgufValueType.INT16, value);
    }

    /** A UINT32 value (0..2^32-1). */
    static IntValue uint32(long value) {
        return new IntValue(GgufValueType.UINT32, value);
    }

    /** An INT32 value. */
    static IntValue int32(int value) {
        return new IntValue(GgufValueType.INT32, value);
    }

    /** A UINT64 value; the long's 64 bits are taken as unsigned. */
    static IntValue uint64(long value) {
        return new IntValue(GgufValueType.UINT64, value);
    }

    /** An INT64 value. */
    static IntValue int64(long value) {
        return new IntValue(GgufValueType.INT64, value);
    }

    /** A FLOAT32 value. */
    static Float32Value float32(float value) {
        return new Float32Value(value);
    }

    /** A FLOAT64 value. */
    static Float64Value float64(double value) {
        return new Float64Value(value);
    }

    /** A BOOL value. */
    static BoolValue bool(boolean value) {
        return new BoolValue(value);
    }

    /** A STRING value. */
    static StringValue string(String value) {
        return new StringValue(value);
    }

    /** An array of the integer type {@code elementType}. */
    static IntArray intArray(GgufValueType elementType, long... values) {
        return new IntArray(elementType, values);
    }

    /** An INT32 array. */
    static IntArray int32Array(int... values) {
        return new IntArray(GgufValueType.INT32, Arrays.stream(values).asLongStream().toArray());
    }

    /** A FLOAT32 array. */
    static Float32Array float32Array(float... values) {
        return new Float32Array(values);
    }

    /** A FLOAT64 array. */
    static Float64Array float64Array(double... values) {
        return new Float64Array(values);
    }

    /** A BOOL array. */
    static BoolArray boolArray(boolean... values) {
        return new BoolArray(values);
    }

    /** A STRING array. */
    static StringArray stringArray(List<String> values) {
        return new StringArray(values);
    }

    /** A STRING array. */
    static StringArray stringArray(String... values) {
        return new StringArray(List.of(values));
    }

    /** An array of arrays. */
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

    /** Decimal text of an integer of this type (UINT64 read as unsigned). */
    static String formatInteger(GgufValueType type, long value) {
        return type == GgufValueType.UINT64 ? Long.toUnsignedString(value) : Long.toString(value);
    }
}
