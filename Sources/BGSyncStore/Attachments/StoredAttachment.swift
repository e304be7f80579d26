/// An attachment of a stored revision: metadata as CouchDB reports it in a stub; the data
/// lives once per digest.
public struct StoredAttachment: Sendable, Equatable {
    /// The name (its key in `_attachments`).
    public var name: String
    /// `content_type`.
    public var contentType: String
    /// The generation of the revision that last changed it.
    public var revpos: Int
    /// `md5-<base64>` for data created here; opaque when replicated from a server.
    public var digest: String
    /// The length of the data in bytes.
    public var length: Int

    /// Creates attachment metadata (for example a stub in a conflict built by a test).
    public init(name: String, contentType: String, revpos: Int, digest: String, length: Int) {
        self.name = name
        self.contentType = contentType
        self.revpos = revpos
        self.digest = digest
        self.length = length
    }
}

extension StoredAttachment {
    /// Appends `"name":{"content_type":…,"revpos":N,"digest":…`, the start of this
    /// attachment's entry in `_attachments`; the caller adds the rest (a stub or the data) and
    /// the closing brace.
    package func appendEntryStart(to out: inout String) {
        JSONString.append(name, to: &out)
        out += ":{\"content_type\":"
        JSONString.append(contentType, to: &out)
        out += ",\"revpos\":\(revpos),\"digest\":"
        JSONString.append(digest, to: &out)
    }
}
