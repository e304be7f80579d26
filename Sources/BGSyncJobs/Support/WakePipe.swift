import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A self-pipe that wakes a thread sleeping in `poll(2)`: ``signal()`` (from any thread, e.g. a
/// task cancellation handler) makes ``readEnd`` readable for good.
final class WakePipe: Sendable {
    /// The end to poll for `POLLIN`; valid until ``close()``.
    let readEnd: Int32
    private let writeEnd: Mutex<Int32>

    init() throws {
        guard let pipe = ChildSpawn.makePipe() else {
            throw JobError(.configuration, "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        readEnd = pipe.read
        writeEnd = Mutex(pipe.write)
        _ = fcntl(pipe.write, F_SETFL, fcntl(pipe.write, F_GETFL) | O_NONBLOCK)
    }

    /// Makes ``readEnd`` readable; does nothing after ``close()``.
    func signal() {
        writeEnd.withLock { fd in
            guard fd >= 0 else { return }
            var byte: UInt8 = 1
            _ = write(fd, &byte, 1)
        }
    }

    /// Closes both ends; call it once the thread polling ``readEnd`` has finished.
    func close() {
        writeEnd.withLock { fd in
            guard fd >= 0 else { return }
            ChildSpawn.closeIfOpen(fd)
            ChildSpawn.closeIfOpen(readEnd)
            fd = -1
        }
    }

    deinit { close() }
}
