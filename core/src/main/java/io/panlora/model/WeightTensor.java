package io.panlora.model;

import io.panlora.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/** A weight's bytes in a ggml type and shape (ne0 contiguous); the segment must outlive the model using it. */
public record WeightTensor(GgmlType type, long ne0, long ne1, MemorySegment data) {}
