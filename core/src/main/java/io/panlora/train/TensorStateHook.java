package io.panlora.train;

import java.util.Map;

/**
 * A hook whose state includes float tensors (e.g. dense slow weights) that checkpoints must carry for an exact resume. The
 * tensors of all such hooks go into one map in the checkpoint, so their names must not clash; they must be finite, or the
 * checkpoint is not written.
 */
public interface TensorStateHook extends TrainHook {
    /**
     * The tensors to save, by name (names unique within the run). The arrays may be the hook's live ones: the trainer only
     * reads them while it writes the checkpoint.
     *
     * @return the tensors by name
     */
    Map<String, float[]> tensorState();

    /**
     * Restores the tensors {@link #tensorState()} gave. Called on resume, after every {@link StatefulHook#restore} and before
     * the first step.
     *
     * @param tensors every hook tensor saved in the checkpoint (those of other hooks too); the hook picks its own by name
     * @throws IllegalStateException if a tensor the hook needs is missing or has the wrong length (a choice of the
     *                               implementation)
     */
    void restoreTensorState(Map<String, float[]> tensors);
}
