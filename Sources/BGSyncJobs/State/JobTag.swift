/// Job tags name files (`locks/<tag>.lock`): `^[A-Za-z0-9][A-Za-z0-9._-]*$`, at most 128 bytes.
package enum JobTag {
    /// The longest tag accepted, in bytes.
    package static let maxLength = 128

    /// Whether `tag` is a valid tag.
    package static func isValid(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard let first = bytes.first, bytes.count <= maxLength, isAlphanumeric(first) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// Throws ``StateError`` (``StateError/Kind/invalidTag``) unless `tag` is valid.
    package static func validate(_ tag: String) throws {
        guard !isValid(tag) else { return }
        let shown = tag.count > 60 ? String(tag.prefix(60)) + "…" : tag
        throw StateError(.invalidTag, "invalid job tag \"\(shown)\": a tag names files, so it must start with an ASCII letter or digit, contain only letters, digits, '.', '_' and '-', and be at most \(maxLength) bytes")
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
