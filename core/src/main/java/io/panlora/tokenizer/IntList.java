package io.panlora.tokenizer;

import java.util.Arrays;

/** A growable array of ints. */
final class IntList {
    private int[] data;
    private int size;

    IntList(int capacity) {
        data = new int[Math.max(1, capacity)];
    }

    void add(int v) {
        if (size == data.length) {
            data = Arrays.copyOf(data, data.length * 2);
        }
        data[size++] = v;
    }

    void addAll(int[] values) {
        for (int v : values) {
            add(v);
        }
    }

    int get(int i) {
        return data[i];
    }


    int size() {
        return size;
    }

    void clear() {
        size = 0;
    }

    int[] toArray() {
        return Arrays.copyOf(data, size);
    }
}
