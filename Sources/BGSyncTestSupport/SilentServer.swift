import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener on 127.0.0.1 that accepts connections and never answers: the server that
/// hangs. Every connection is held open (nothing is read or written) until ``stop()``.
///
/// ```swift
/// let silent = try SilentServer.start()
/// defer { silent.stop() }
/// // http://127.0.0.1:\(silent.port)/db never answers
/// ```
public final class SilentServer: @unchecked Sendable {
    /// The port it listens on.
    public let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var connections: [Int32] = []
    private var stopped = false

    private init(listener: Int32, port: Int) {
        self.listener = listener
        self.port = port
    }

    /// Listens on an ephemeral port of 127.0.0.1 and starts accepting on a thread of its own.
    public static func start() throws -> SilentServer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SilentServerError(what: "socket", code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let code = errno
            close(fd)
            throw SilentServerError(what: "bind/listen", code: code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let server = SilentServer(listener: fd, port: Int(UInt16(bigEndian: address.sin_port)))
        Thread { server.acceptLoop() }.start()
        return server
    }

    /// How many connections it has accepted so far.
    public var accepted: Int {
        lock.lock()
        defer { lock.unlock() }
        return connections.count
    }

    /// Waits (without blocking a thread of the concurrency pool) until at least `count`
    /// connections were accepted or `timeout` seconds passed; returns whether they were.
    public func waitForConnections(_ count: Int = 1, timeout: Double = 30) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if accepted >= count { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return accepted >= count
    }

    /// Closes the listener and every connection.
    public func stop() {
        lock.lock()
        let open = connections
        let wasStopped = stopped
        stopped = true
        connections = []
        lock.unlock()
        guard !wasStopped else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in open { close(fd) }
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            lock.lock()
            if stopped {
                lock.unlock()
                close(fd)
                return
            }
            connections.append(fd)
            lock.unlock()
        }
    }
}

/// A socket call of ``SilentServer`` failed.
public struct SilentServerError: Error, CustomStringConvertible {
    /// The call.
    public let what: String
    /// Its errno.
    public let code: Int32
    public var description: String { "\(what): \(String(cString: strerror(code)))" }
}
