import BGSyncStore
import Foundation
import NIOCore

/// A document and the data of its attachments as one `multipart/related` body, the way
/// CouchDB's replicator sends a document whose attachments are too big for base64 in JSON
/// (`PUT /db/id?new_edits=false`): first the JSON, whose `_attachments` entries for these
/// attachments say `"follows": true`, then each attachment's bytes, in the order of those
/// entries. The bytes are read from their files a piece at a time while the request is sent.
struct MultipartRelated: Sendable {
    /// One attachment's data.
    struct Attachment: Sendable {
        var name: String
        var contentType: String
        var file: SpoolFile
    }

    fileprivate enum Part: Sendable {
        case bytes([UInt8])
        case file(SpoolFile)
    }

    fileprivate let parts: [Part]
    /// The `Content-Type` header, with the boundary.
    let contentType: String
    /// The body's length in bytes.
    let length: Int

    /// - Parameter attachments: in the order their entries appear in the JSON's `_attachments`.
    init(json: [UInt8], attachments: [Attachment]) {
        let boundary = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var parts: [Part] = [.bytes(Array("--\(boundary)\r\nContent-Type: application/json\r\n\r\n".utf8) + json)]
        for attachment in attachments {
            var head = "\r\n--\(boundary)\r\n"
            // CouchDB matches a part to its entry by file name when there is one, else by order;
            // a name that needs quoting rules is left to the order.
            if attachment.name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                head += "Content-Disposition: attachment; filename=\"\(attachment.name)\"\r\n"
            }
            head += "Content-Type: \(attachment.contentType.filter { $0 != "\r" && $0 != "\n" })\r\n"
            head += "Content-Length: \(attachment.file.length)\r\n\r\n"
            parts.append(.bytes(Array(head.utf8)))
            parts.append(.file(attachment.file))
        }
        parts.append(.bytes(Array("\r\n--\(boundary)--".utf8)))
        self.parts = parts
        contentType = "multipart/related; boundary=\"\(boundary)\""
        length = parts.reduce(0) { total, part in
            switch part {
            case .bytes(let bytes): total + bytes.count
            case .file(let file): total + file.length
            }
        }
    }

}

extension MultipartRelated: AsyncSequence {
    typealias Element = ByteBuffer

    /// Reads the next piece only when the request asks for it, so that no more than one piece
    /// of a file is in memory however slowly the server takes it.
    struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate var parts: ArraySlice<Part>
        private var reader: SpoolFile.Reader?

        fileprivate init(parts: [Part]) {
            self.parts = parts[...]
        }

        mutating func next() async throws -> ByteBuffer? {
            while true {
                if reader != nil {
                    if let piece = try reader?.next(upTo: 256 * 1024) { return ByteBuffer(bytes: piece) }
                    reader = nil
                }
                guard let part = parts.popFirst() else { return nil }
                switch part {
                case .bytes(let bytes): return ByteBuffer(bytes: bytes)
                case .file(let file): reader = try SpoolFile.Reader(file)
                }
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(parts: parts)
    }
}
