package io.panlora.model;

import io.panlora.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * A weight's bytes in a ggml type and shape (ne0 contiguous); the segment must outlive the model using it. Nothing is
 * checked here: the engine checks the shape and byte size when the tensor is bound to a model.
 *
 * @param type the ggml type of the data
 * @param ne0  elements per row (the contiguous dimension: a linear's input size)
 * @param ne1  rows (a linear's output size; the product of all higher dimensions of a GGUF tensor; 1 for a vector)
 * @param data the encoded bytes, {@code type.rowBytes(ne0) · ne1} of them; F32 data should be 4-byte aligned (a model
 *             copies misaligned F32 data)
 */
public record WeightTensor(GgmlType type, long ne0, long ne1, MemorySegment data) {}
