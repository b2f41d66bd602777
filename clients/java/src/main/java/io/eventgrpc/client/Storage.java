package io.eventgrpc.client;

import io.eventgrpc.v1.Event;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * A client's files in its storage directory: {@code state.properties}
 * (anonymous id, user id, opt-out), {@code buffer.pb} (events not yet
 * confirmed, each a length-delimited {@code Event}) and {@code lock}, held
 * while the client is open so that two clients never share the files.
 * Every write goes to a temporary file, is fsynced and renamed over the
 * old one: a crash leaves the old file or the new one, never a mix.
 * Writes are serialised on this object.
 */
final class Storage implements AutoCloseable {
  static final String STATE = "state.properties";
  static final String BUFFER = "buffer.pb";
  static final String LOCK = "lock";

  final Path dir;
  private final FileChannel lockChannel;
  private final FileLock lock;

  /** Opens (creating) dir and takes its lock; IllegalStateException when another client holds it. */
  Storage(Path dir) {
    this.dir = dir.toAbsolutePath();
    try {
      Files.createDirectories(this.dir);
      lockChannel =
          FileChannel.open(this.dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new UncheckedIOException("storageDir " + this.dir + ": " + e.getMessage(), e);
    }
    FileLock l;
    try {
      l = lockChannel.tryLock();
    } catch (OverlappingFileLockException | IOException e) {
      l = null;
    }
    if (l == null) {
      closeQuietly();
      throw new IllegalStateException(
          "storageDir " + this.dir + " is in use by another open client (one client per directory)");
    }
    lock = l;
  }

  private void closeQuietly() {
    try {
      lockChannel.close();
    } catch (IOException ignored) {
      // Closing a lock file: nothing to recover.
    }
  }

  /** The saved state, empty when there is none. */
  Properties loadState() throws IOException {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(dir.resolve(STATE), StandardCharsets.UTF_8)) {
      p.load(r);
    } catch (NoSuchFileException none) {
      // First start.
    }
    return p;
  }

  synchronized void saveState(Properties p) throws IOException {
    Path tmp = dir.resolve(STATE + ".tmp");
    try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      p.store(w, "event-grpc client state");
    }
    commit(tmp, dir.resolve(STATE));
  }

  /** The loaded events and what stopped the reading early (null when the file was read to its end). */
  static final class Loaded {
    final List<Event> events = new ArrayList<>();
    long bytes;
    String problem;
  }

  /**
   * Reads the saved events, at most maxEvents of at most maxBytes in all;
   * a damaged tail (a torn write of an older version) ends the reading.
   */
  Loaded loadBuffer(int maxEvents, long maxBytes) throws IOException {
    Loaded out = new Loaded();
    try (InputStream in = new BufferedInputStream(Files.newInputStream(dir.resolve(BUFFER)))) {
      while (true) {
        Event e;
        try {
          e = Event.parseDelimitedFrom(in);
        } catch (IOException bad) {
          out.problem = "damaged after " + out.events.size() + " events: " + bad.getMessage();
          break;
        }
        if (e == null) {
          break;
        }
        int size = e.getSerializedSize();
        if (out.events.size() >= maxEvents || out.bytes + size > maxBytes) {
          out.problem = "over the queue's bound after " + out.events.size() + " events";
          break;
        }
        out.events.add(e);
        out.bytes += size;
      }
    } catch (NoSuchFileException none) {
      // Nothing saved.
    }
    return out;
  }

  /** Replaces the saved events with these (an empty list deletes the file). */
  synchronized void saveBuffer(List<Event> events) throws IOException {
    Path file = dir.resolve(BUFFER);
    if (events.isEmpty()) {
      Files.deleteIfExists(file);
      return;
    }
    Path tmp = dir.resolve(BUFFER + ".tmp");
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 64 << 10)) {
      for (Event e : events) {
        e.writeDelimitedTo(out);
      }
    }
    commit(tmp, file);
  }

  private void commit(Path tmp, Path file) throws IOException {
    try (FileChannel c = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
      c.force(true);
    }
    try {
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
    }
    // The rename is durable once the directory is synced (POSIX); where a
    // directory cannot be opened for that (Windows), the rename stands alone.
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    } catch (IOException notSupported) {
      // See above.
    }
  }

  @Override
  public void close() {
    try {
      lock.release();
    } catch (IOException ignored) {
      // The channel's close releases it too.
    }
    closeQuietly();
  }
}
