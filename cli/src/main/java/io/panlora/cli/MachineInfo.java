package io.panlora.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/** A one-line description of this machine for benchmark reports. */
final class MachineInfo {
    private MachineInfo() {}

    static String describe() {
        String cpu = "unknown CPU";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
                if (line.startsWith("model name")) { cpu = line.substring(line.indexOf(':') + 1).trim(); break; }
        } catch (Exception ignored) {
            // not Linux: keep the generic name
        }
        return cpu + ", " + Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.name") + " "
                + System.getProperty("os.arch") + ", Java " + Runtime.version();
    }
}
