package io.panlora.merge;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufWriter;
import io.panlora.lora.LoraSet;
import io.panlora.model.ModelWriter;
import io.panlora.tensor.Codec;
import io.panlora.tensor.LowRank;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A full GGUF model with adapters folded in: every adapted linear becomes W + Σ sᵢ·BᵢAᵢ (enabled slots of enabled
 * layers), stored in its own type when that is F32/F16/BF16, as F16 when it was quantized (re-quantizing would
 * round most of the update away), or in the type asked for; every other tensor and all
 * metadata are copied unchanged, so llama.cpp loads the result like the base.
 */
public final class MergedModel {
    private MergedModel() {}

    /**
     * Writes base + the adapter set (whose model must be the base) to out; type null keeps each tensor's type.
     * The file is written atomically; {@code general.name} gets {@code -merged} appended, and {@code general.file_type}
     * is set to {@code type} when given (though only adapted tensors change type). Each adapted tensor is dequantized to
     * F32 on the Java heap, so memory peaks at about two copies of the largest adapted matrix.
     *
     * @param base the base model's GGUF file (open; its tensors are read while writing)
     * @param set  the adapters to fold in: enabled slots of enabled layers; slots whose tensor the base lacks are ignored
     * @param out  the destination; replaced if it exists
     * @param type the type for adapted tensors (F16 instead when their row length does not fit its blocks), or null: F32,
     *             F16 and BF16 tensors keep their type and quantized ones become F16
     * @return notes on tensors written in another type than asked for (empty when none), one line each
     * @throws IOException if the file cannot be written
     * @throws io.panlora.bindings.PanloraException if a tensor cannot be decoded or encoded in the target type
     */
    public static List<String> write(GgufFile base, LoraSet set, Path out, GgmlType type) throws IOException {
        List<String> notes = new ArrayList<>();
        GgufWriter w = new GgufWriter();
        w.putAll(base.metadata());
        w.remove("general.alignment");
        w.alignment(base.alignment());
        w.putString("general.name", base.getString("general.name", "model") + "-merged");
        if (type != null) w.put("general.file_type", GgufValue.uint32(ModelWriter.fileType(type)));
        try (Arena arena = Arena.ofConfined()) {
            for (GgufTensorInfo t : base.tensors()) {
                List<LoraSet.Slot> slots = new ArrayList<>();
                for (LoraSet.Slot s : set.slots())
                    if (set.enabled(s) && set.layerEnabled(s.layer()) && t.name().equals("blk." + s.layer() + "." + s.target().gguf + ".weight"))
                        slots.add(s);
                if (slots.isEmpty()) {
                    w.copyTensor(base, t);
                    continue;
                }
                int in = (int) t.ne()[0], outF = (int) t.ne()[1];
                float[] dense = Codec.dequantize(t.type(), base.tensorData(t), (long) in * outF);
                for (LoraSet.Slot s : slots) LowRank.addProduct(dense, set.getB(s), set.getA(s), outF, in, s.rank(), set.scale(s));
                // by default a quantized tensor becomes F16: re-quantizing would round most of the small update away
                GgmlType target = type != null ? type : t.type().isQuantized() ? GgmlType.F16 : t.type();
                if (in % target.blockSize() != 0) {
                    notes.add(t.name() + ": rows of " + in + " do not fit " + target + " blocks; kept as F16");
                    target = GgmlType.F16;
                }
                MemorySegment q = Codec.quantize(target, dense, arena);
                w.addTensor(t.name(), t.ne(), target, q);
            }
            w.write(out);
        }
        return notes;
    }
}
