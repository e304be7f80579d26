import Foundation

/// Attachment data: in memory, or spooled to a file.
package enum AttachmentBytes: Sendable, Equatable {
    /// Bytes held in memory.
    case memory([UInt8])
    /// Bytes in a temporary file.
    case spooled(SpoolFile)

    /// The length in bytes.
    package var count: Int {
        switch self {
        case .memory(let bytes): return bytes.count
        case .spooled(let file): return file.length
        }
    }

    /// Calls `body` with the data in pieces of at most `size` bytes, in order (once with an
    /// empty piece for empty data).
    func forEachChunk(of size: Int, _ body: (Data) throws -> Void) throws {
        switch self {
        case .memory(let bytes):
            var start = 0
            repeat {
                let end = min(start + size, bytes.count)
                try body(Data(bytes[start..<end]))
                start = end
            } while start < bytes.count
        case .spooled(let file):
            try file.forEachChunk(of: size, body)
        }
    }

    /// `md5-<base64>` of the data, as CouchDB writes digests of data it stores unencoded.
    func digest() throws -> String {
        var hasher = MD5Hasher()
        try forEachChunk(of: AttachmentChunks.size) { chunk in chunk.withUnsafeBytes { hasher.update($0) } }
        return "md5-" + Data(hasher.finalize()).base64EncodedString()
    }
}
