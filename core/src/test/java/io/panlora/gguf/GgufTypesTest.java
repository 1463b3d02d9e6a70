package io.panlora.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class GgufTypesTest {

    @Test
    void blockLayoutsMatchGgml() {
        assertEquals(4, GgmlType.F32.rowBytes(1));
        assertEquals(2 * 4096, GgmlType.F16.rowBytes(4096));
        assertEquals(18 * 128, GgmlType.Q4_0.rowBytes(4096));
        assertEquals(34 * 2, GgmlType.Q8_0.rowBytes(64));
        assertEquals(144, GgmlType.Q4_K.rowBytes(256));
        assertEquals(210, GgmlType.Q6_K.rowBytes(256));
        assertEquals(84, GgmlType.Q2_K.rowBytes(256));
        assertEquals(110, GgmlType.Q3_K.rowBytes(256));
        assertEquals(176, GgmlType.Q5_K.rowBytes(256));
        assertEquals(292, GgmlType.Q8_K.rowBytes(256));
        assertEquals(2, GgmlType.BF16.rowBytes(1));
        assertEquals(34 * 2 * 3, GgmlType.Q8_0.tensorBytes(new long[] {64, 3}));
        assertThrows(IllegalArgumentException.class, () -> GgmlType.Q4_0.rowBytes(33));
        assertThrows(IllegalArgumentException.class, () -> GgmlType.Q4_K.rowBytes(128));
        assertThrows(IllegalArgumentException.class, () -> GgmlType.F32.rowBytes(-1));
        assertThrows(ArithmeticException.class, () -> GgmlType.F32.tensorBytes(new long[] {1L << 40, 1L << 30}));
    }

    @Test
    void idsAreGgmlsAndUnique() {
        assertEquals(GgmlType.F32, GgmlType.fromId(0));
        assertEquals(GgmlType.Q8_0, GgmlType.fromId(8));
        assertEquals(GgmlType.BF16, GgmlType.fromId(30));
        assertEquals(28, GgmlType.F64.id());
        Set<Integer> ids = new HashSet<>();
        for (GgmlType t : GgmlType.values()) {
            assertTrue(ids.add(t.id()), "duplicate id " + t.id());
            assertEquals(t, GgmlType.fromId(t.id()));
        }
        for (int retired : new int[] {4, 5, 31, 32, 33, 36, 37, 38, 77, -1, 1 << 20}) {
            assertTrue(GgmlType.byId(retired).isEmpty(), "id " + retired);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GgmlType.fromId(77));
        assertTrue(e.getMessage().contains("77"));
    }

    @Test
    void valueTypeIds() {
        assertEquals(GgufValueType.ARRAY, GgufValueType.byId(9).orElseThrow());
        assertEquals(GgufValueType.FLOAT64, GgufValueType.byId(12).orElseThrow());
        assertTrue(GgufValueType.byId(13).isEmpty());
        assertTrue(GgufValueType.UINT64.isUnsigned());
        assertTrue(GgufValueType.INT8.isInteger());
    }

    @Test
    void tensorInfoChecksItself() {
        GgufTensorInfo t = new GgufTensorInfo("w", new long[] {64, 2}, GgmlType.Q8_0, 0, 136);
        assertEquals(128, t.nElements());
        assertEquals(2, t.nDims());
        assertEquals(1, t.ne(3));
        assertEquals("[64, 2]", t.shapeString());
        long[] ne = t.ne();
        ne[0] = 1;
        assertEquals(64, t.ne(0), "the shape is copied out");
        assertThrows(IllegalArgumentException.class, () -> new GgufTensorInfo("w", new long[] {64}, GgmlType.Q8_0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new GgufTensorInfo("w", new long[0], GgmlType.F32, 0, 0));
    }
}
