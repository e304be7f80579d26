import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A raw HTTP/1.1 exchange over a blocking socket, to see exactly what a server puts on the
/// wire (status lines, partial bodies, resets), which an HTTP client hides. Runs on its own
/// thread so it never blocks the concurrency pool the server answers on.
enum FixtureRawHTTP {
    struct Exchange {
        /// Everything received before end of stream or the error.
        var bytes: [UInt8]
        /// `errno` of the failed read (e.g. `ECONNRESET`), 0 for a clean end of stream.
        var readError: Int32

        var text: String { String(decoding: bytes, as: UTF8.self) }

        /// The body: what follows the blank line after the head.
        var body: [UInt8] {
            let separator: [UInt8] = [13, 10, 13, 10]
            guard let index = (0...(max(0, bytes.count - 4))).first(where: { Array(bytes[$0..<min($0 + 4, bytes.count)]) == separator }) else { return [] }
            return Array(bytes[(index + 4)...])
        }

        func header(_ name: String) -> String? {
            for line in text.components(separatedBy: "\r\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    static func exchange(port: Int, _ request: String) async -> Exchange {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: run(port: port, request: Array(request.utf8))) }
            thread.start()
        }
    }

    private static func run(port: Int, request: [UInt8]) -> Exchange {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return Exchange(bytes: [], readError: errno) }
        defer { close(fd) }
        // A safety net, not a speed check: a loaded CI machine may answer slowly.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return Exchange(bytes: [], readError: errno) }
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return Exchange(bytes: [], readError: errno) }
            sent += count
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received.append(contentsOf: buffer[0..<count])
            } else if count == 0 {
                return Exchange(bytes: received, readError: 0)
            } else {
                return Exchange(bytes: received, readError: errno)
            }
        }
    }
}
