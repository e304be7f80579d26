/// A CouchDB revision identifier: `N-<hash>`, where `N` is the generation (the position of the
/// revision in its document's history, starting at 1) and `<hash>` is an opaque string.
///
/// CouchDB generates 32 lowercase hexadecimal characters; other engines write other forms
/// (Couchbase Lite: 40 hex characters). Any non-empty hash of printable ASCII without spaces or
/// quotes is accepted and kept verbatim; hashes compare bytewise, which for lowercase hex is the
/// order CouchDB uses to pick a winner.
public struct RevisionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The generation, 1 for a document's first revision.
    public let generation: Int
    /// The opaque part after the dash.
    public let hash: String

    /// The longest hash accepted; CouchDB's are 32 characters, Couchbase's 40.
    public static let maximumHashLength = 128

    /// Creates a revision id from its parts, validating them.
    public init(generation: Int, hash: String) throws(StoreError) {
        guard generation >= 1 else {
            throw StoreError.invalidRevision("\(generation)-\(hash)", reason: "the generation must be a positive integer")
        }
        guard Self.isValidHash(hash) else {
            throw StoreError.invalidRevision("\(generation)-\(hash)", reason: "the part after '-' must be 1 to \(Self.maximumHashLength) printable ASCII characters without spaces or quotes")
        }
        self.generation = generation
        self.hash = hash
    }

    /// Internal initializer for values read back from the database (already validated).
    init(trusted generation: Int, hash: String) {
        self.generation = generation
        self.hash = hash
    }

    /// Parses `N-hash`.
    public init(parsing text: String) throws(StoreError) {
        let utf8 = text.utf8
        guard let dash = utf8.firstIndex(of: UInt8(ascii: "-")), dash != utf8.startIndex else {
            throw StoreError.invalidRevision(text, reason: "expected the form N-hash, for example 1-967a00dff5e02add41819138abb3284d")
        }
        let digits = utf8[utf8.startIndex..<dash]
        guard digits.count <= 18, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let generation = Int(Substring(text[text.startIndex..<dash]))
        else {
            throw StoreError.invalidRevision(text, reason: "the generation before '-' must be a positive integer")
        }
        try self.init(generation: generation, hash: String(Substring(text[text.index(after: dash)...])))
    }

    static func isValidHash(_ hash: String) -> Bool {
        let utf8 = hash.utf8
        guard !utf8.isEmpty, utf8.count <= maximumHashLength else { return false }
        return utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    /// `N-hash`.
    public var description: String { "\(generation)-\(hash)" }

    /// Orders by generation, then by hash bytewise: the order CouchDB uses among leaves of
    /// equal deletion state.
    public static func < (lhs: RevisionID, rhs: RevisionID) -> Bool {
        if lhs.generation != rhs.generation { return lhs.generation < rhs.generation }
        return lhs.hash.utf8.lexicographicallyPrecedes(rhs.hash.utf8)
    }
}
