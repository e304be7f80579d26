import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `multipart/related` request body split into its parts, the way CouchDB 3.4.3's
/// `couch_httpd:parse_multipart_request` reads one.
///
/// The preamble up to the first `--boundary` is skipped. Each part is its header block up to
/// the first empty line, then its body up to the next `CRLF--boundary`. `--` right after a
/// delimiter ends the body; the epilogue is ignored. A body that ends without the closing
/// delimiter keeps its last part (CouchDB streams the bytes it has to the attachment, so a
/// complete attachment without the closing delimiter is still stored).
struct MultipartRelatedParser: Sendable {
    /// One part: its headers (lowercase names, values trimmed) and the range of its body in
    /// the request body.
    struct Part: Sendable, Equatable {
        var headers: [String: String]
        var body: Range<Int>
    }

    /// The parts, in order.
    var parts: [Part]

    /// Splits `body` on `boundary`.
    /// - Throws: 400 `bad_request` when no delimiter opens the body or a header line has no
    ///   colon (CouchDB's `bad part header`).
    init(body: [UInt8], boundary: String) throws(FixtureError) {
        let opening = Array(("--" + boundary).utf8)
        let delimiter = Array(("\r\n--" + boundary).utf8)
        guard let first = Self.find(opening, in: body, from: 0) else {
            throw FixtureError(400, "bad_request", "The multipart body has no --\(boundary) delimiter")
        }
        var parts: [Part] = []
        var position = first + opening.count
        while position < body.count, !Self.startsWith([0x2D, 0x2D], in: body, at: position) {
            guard let blank = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: body, from: position) else {
                throw FixtureError(400, "bad_request", "bad part header")
            }
            let headers = try Self.headers(body[position..<blank])
            let start = blank + 4
            guard let end = Self.find(delimiter, in: body, from: start) else {
                parts.append(Part(headers: headers, body: start..<body.count))
                break
            }
            parts.append(Part(headers: headers, body: start..<end))
            position = end + delimiter.count
        }
        self.parts = parts
    }

    /// The `boundary` parameter of a `multipart/…` content type, unquoted; nil when the type
    /// is not `multipart/related` or has no boundary.
    static func boundary(ofContentType contentType: String) -> String? {
        var fields = Self.split(contentType)
        guard let type = fields.first?.trimmingCharacters(in: .whitespaces).lowercased(), type == "multipart/related" else {
            return nil
        }
        fields.removeFirst()
        for field in fields {
            guard let equals = field.firstIndex(of: "=") else { continue }
            let name = field[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            guard name == "boundary" else { continue }
            let value = Self.unquoted(field[field.index(after: equals)...].trimmingCharacters(in: .whitespaces))
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// The media type of a `Content-Type` value, lowercased, without parameters.
    static func mediaType(_ contentType: String?) -> String {
        contentType?.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }

    /// `text` split on `;` outside double quotes.
    private static func split(_ text: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text {
            if escaped {
                escaped = false
            } else if character == "\\" && quoted {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if character == ";" && !quoted {
                fields.append(current)
                current = ""
                continue
            }
            current.append(character)
        }
        fields.append(current)
        return fields
    }

    /// A parameter value without its surrounding quotes and backslash escapes.
    private static func unquoted(_ value: String) -> String {
        guard value.count >= 2, value.first == "\"", value.last == "\"" else { return value }
        var result = ""
        var escaped = false
        for character in value.dropFirst().dropLast() {
            if !escaped && character == "\\" {
                escaped = true
                continue
            }
            escaped = false
            result.append(character)
        }
        return result
    }

    /// The header block of one part; empty lines are skipped, as CouchDB does.
    private static func headers(_ block: ArraySlice<UInt8>) throws(FixtureError) -> [String: String] {
        var headers: [String: String] = [:]
        for line in String(decoding: block, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else {
                throw FixtureError(400, "bad_request", "bad part header")
            }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return headers
    }

    private static func startsWith(_ prefix: [UInt8], in bytes: [UInt8], at index: Int) -> Bool {
        index + prefix.count <= bytes.count && bytes[index..<(index + prefix.count)].elementsEqual(prefix)
    }

    /// The offset of the first occurrence of `pattern` in `bytes` at or after `start`
    /// (`memchr` for the first byte, `memcmp` for the rest: fast on multi-megabyte bodies).
    static func find(_ pattern: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard let head = pattern.first, start >= 0, bytes.count - start >= pattern.count else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> Int? in
            pattern.withUnsafeBufferPointer { needle -> Int? in
                guard let base = buffer.baseAddress, let needleBase = needle.baseAddress else { return nil }
                var index = start
                let last = buffer.count - needle.count
                while index <= last {
                    guard let hit = memchr(base + index, Int32(head), last - index + 1) else { return nil }
                    let offset = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + offset, needleBase, needle.count) == 0 { return offset }
                    index = offset + 1
                }
                return nil
            }
        }
    }
}
