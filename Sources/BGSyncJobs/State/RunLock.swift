import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-job lock that keeps two runs of one job apart (cron starts a second copy while the
/// first still runs; a systemd timer does not, but a manual `bgsync run` can).
///
/// `flock(LOCK_EX | LOCK_NB)` on `<state directory>/locks/<tag>.lock`, a file that is never
/// deleted (deleting it would let a second process lock a new file while the first holds the
/// old one). flock, not `fcntl` locks: those drop when any descriptor of the file is closed in
/// the process (SQLite uses them too), while a flock belongs to one open file description and
/// is released only by ``release()``, by closing it, or by the process's death — so a run that
/// was killed never leaves a stale lock. The descriptor is close-on-exec, so programs the run
/// starts (exec factories, hooks) do not inherit the lock.
///
/// The holder writes its pid into the file (for "already running (pid N)") and empties it on
/// release.
package final class RunLock: Sendable {
    /// The lock file.
    package let path: String
    private let descriptor: Mutex<Int32?>

    private init(path: String, descriptor: Int32?) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// The lock file of `tag`.
    package static func path(stateDirectory: String, tag: String) -> String {
        let base = stateDirectory.hasSuffix("/") ? stateDirectory : stateDirectory + "/"
        return base + "locks/" + tag + ".lock"
    }

    /// Takes the lock of `tag` without waiting.
    /// - Parameter creating: false for a run that must create nothing (a dry run): when the lock
    ///   file (or the state directory) does not exist, no run has ever held it, and a lock that
    ///   holds nothing (``isHeld`` false) is returned instead of creating them.
    /// - Returns: the lock, or nil when another process (or another ``RunLock`` of this one)
    ///   holds it.
    /// - Throws: ``StateError`` for an invalid tag or a lock file that cannot be created or opened.
    package static func acquire(stateDirectory: String, tag: String, creating: Bool = true) throws -> RunLock? {
        try JobTag.validate(tag)
        let base = stateDirectory.hasSuffix("/") ? stateDirectory : stateDirectory + "/"
        let path = path(stateDirectory: stateDirectory, tag: tag)
        if creating { try StateDatabase.createDirectory(base + "locks") }
        var fd = creating ? open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) : open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 && !creating && (errno == EACCES || errno == EROFS) {
            fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)  // flock works on it; the pid is not written
        }
        guard fd >= 0 else {
            if !creating && (errno == ENOENT || errno == ENOTDIR) { return RunLock(path: path, descriptor: nil) }
            let code = errno
            if StateError.kind(errno: code) == .permission {
                throw StateError(.permission, "\(path): permission denied: this user (uid \(getuid())) cannot open the lock file; check the state directory's owner and mode", path: path)
            }
            throw StateError(.io, "\(path): cannot open the lock file: \(String(cString: strerror(code)))", path: path)
        }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw StateError(.io, "\(path): cannot lock: \(String(cString: strerror(code)))", path: path)
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return RunLock(path: path, descriptor: fd)
    }

    /// The pid that the current holder of `tag`'s lock wrote, if that process is alive; nil when
    /// the lock is free (or was held by a process that died without releasing it).
    package static func holderPID(stateDirectory: String, tag: String) -> Int32? {
        guard JobTag.isValid(tag) else { return nil }
        let path = path(stateDirectory: stateDirectory, tag: tag)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(text), StateDatabase.isAlive(pid: pid) else { return nil }
        return pid
    }

    /// Releases the lock (empties the file first); later calls do nothing. Also done on deinit
    /// and, by the kernel, when the process exits.
    package func release() {
        descriptor.withLock { fd in
            guard let open = fd else { return }
            _ = ftruncate(open, 0)
            _ = flock(open, LOCK_UN)
            close(open)
            fd = nil
        }
    }

    /// Whether this object still holds the lock.
    package var isHeld: Bool { descriptor.withLock { $0 != nil } }
}
