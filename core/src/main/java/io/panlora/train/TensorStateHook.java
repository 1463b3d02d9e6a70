package io.panlora.train;

import java.util.Map;

/** A hook whose state includes float tensors (e.g. dense slow weights) that checkpoints must carry for an exact resume. */
public interface TensorStateHook extends TrainHook {
    /** The tensors by name (names unique within the run). */
    Map<String, float[]> tensorState();

    /** Restores the tensors {@link #tensorState()} gave. */
    void restoreTensorState(Map<String, float[]> tensors);
}
