package io.panlora.cli;

import io.panlora.llamacpp.LlamaCpp;
import io.panlora.llamacpp.LlamaCppModel;
import io.panlora.model.Device;
import java.util.Locale;
import picocli.CommandLine.Option;

/** {@code --engine panlora|llama.cpp}: which engine runs the command. */
final class EngineOption {
    @Option(names = "--engine", defaultValue = "panlora", paramLabel = "panlora|llama.cpp",
            description = "the engine that runs the model: panlora's own, or llama.cpp built from source by native/llama.cpp/build.sh (default: ${DEFAULT-VALUE})")
    String engine;

    /** True for llama.cpp; checks the name, and that llama.cpp is built, before anything is created. */
    boolean llamaCpp() {
        String e = engine.trim().toLowerCase(Locale.ROOT);
        return switch (e) {
            case "panlora" -> false;
            case "llama.cpp", "llamacpp", "llama" -> {
                LlamaCpp.init();
                yield true;
            }
            default -> throw new IllegalArgumentException("--engine '" + engine + "': must be panlora or llama.cpp");
        };
    }

    /** llama.cpp's load options for the device: every layer on the GPU when llama.cpp was built with CUDA and the device is one. */
    static LlamaCppModel.Options loadOptions(Device device) {
        boolean cuda = "ON".equals(LlamaCpp.buildInfo().get("cuda"));
        return new LlamaCppModel.Options(cuda && !device.isCpu() ? -1 : 0, false);
    }

    /** One line on stderr naming the build in use. */
    static void announce() {
        var info = LlamaCpp.buildInfo();
        System.err.println("panlora: engine llama.cpp " + info.getOrDefault("tag", "?") + " (commit "
                + info.getOrDefault("commit", "?").substring(0, Math.min(7, info.getOrDefault("commit", "?").length())) + ", "
                + ("ON".equals(info.get("cuda")) ? "CPU + CUDA" : "CPU") + ")");
    }
}
