package io.panlora.train.internal;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The exclusive hold of a run directory: an OS file lock ({@link FileChannel#tryLock()}) on DIR/run.lock, taken for the whole
 * run and released on close or when the process ends, however it ends. The file itself stays behind and means nothing without
 * the lock, so one left by a killed process blocks no one (it is never deleted: deleting a lock file lets two runs lock two
 * different files of the same name).
 */
public final class RunLock implements AutoCloseable {
    public static final String FILE = "run.lock";
    /**
     * The directories this process holds. Checked before a second channel is opened on a held file: closing any channel of a
     * file drops all of this process's POSIX locks on it, so a refused second attempt must never open (and close) one.
     */
    private static final java.util.Set<Path> HELD = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final Path dir;
    private final Path key;
    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(Path dir, Path key, FileChannel channel, FileLock lock) {
        this.dir = dir;
        this.key = key;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Locks an existing run directory or fails at once, with one line naming it, when another run (in this process or another)
     * holds it. Writes this process's id into the lock file, for that message.
     */
    public static RunLock acquire(Path dir) throws IOException {
        Path file = dir.resolve(FILE);
        Path key = dir.toRealPath();
        if (!HELD.add(key)) throw inUse(dir, file, Long.toString(ProcessHandle.current().pid()));
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null; // another channel of this process, outside this class
            }
            if (l == null) throw inUse(dir, file, holder(ch));
            try {
                ch.truncate(0);
                ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
                ch.force(false);
            } catch (IOException e) {
                throw new IOException(file + ": cannot write the run lock: " + e.getMessage(), e);
            }
            RunLock r = new RunLock(dir, key, ch, l);
            ch = null;
            return r;
        } catch (IOException | RuntimeException | Error e) {
            HELD.remove(key);
            if (ch != null) ch.close(); // releases the lock too, if it was taken
            throw e;
        }
    }

    private static IOException inUse(Path dir, Path file, String holder) {
        return new IOException(dir + " is in use by another training run" + (holder.isEmpty() ? "" : " (pid " + holder + ")")
                + ", which holds " + file + "; wait for it to end or use another output directory");
    }

    private static String holder(FileChannel ch) {
        try {
            ByteBuffer b = ByteBuffer.allocate(32);
            int n = ch.read(b, 0);
            String s = n <= 0 ? "" : new String(b.array(), 0, n, StandardCharsets.US_ASCII).trim();
            return s.matches("[0-9]{1,20}") ? s : "";
        } catch (IOException e) {
            return "";
        }
    }

    /** The locked directory. */
    public Path dir() { return dir; }

    /**
     * Deletes the temporary files (named {@code .*.tmp}, as panlora's atomic writers name theirs) that a killed write left in the
     * directory, reporting each on one line; safe only while the lock is held, since then no writer of ours is at work there.
     *
     * @return the files removed
     */
    public List<Path> removeStaleTemporaries(PrintStream report) throws IOException {
        List<Path> removed = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, p -> {
            String n = p.getFileName().toString();
            return n.startsWith(".") && n.endsWith(".tmp") && Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        })) {
            for (Path p : ds) removed.add(p);
        }
        removed.sort(null);
        for (Path p : removed) {
            long size = Files.size(p);
            Files.delete(p);
            if (report != null) report.printf("removed %s (%d bytes): a temporary file left by an interrupted write%n", p, size);
        }
        return removed;
    }

    @Override
    public void close() throws IOException {
        try {
            if (lock.isValid()) lock.release();
        } finally {
            try {
                channel.close();
            } finally {
                HELD.remove(key);
            }
        }
    }
}
