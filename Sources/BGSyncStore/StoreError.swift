/// An error from the document store, with enough context to act on.
///
/// Codes are open-ended static members (as in AsyncHTTPClient's `HTTPClientError`), so new ones
/// can be added without breaking a caller's `switch`. `couchError` is the `error` field CouchDB
/// would answer with for the same situation (`not_found`, `conflict`, `bad_request`, …).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The document or revision does not exist (CouchDB 404 `not_found`).
        public static let notFound = Code(name: "not_found")
        /// The base revision is stale or missing (CouchDB 409 `conflict`).
        public static let conflict = Code(name: "conflict")
        /// A document body, id or field is not acceptable (CouchDB 400 `bad_request`).
        public static let invalidDocument = Code(name: "bad_request")
        /// A revision id or `_revisions` history is malformed (CouchDB 400 `bad_request`).
        public static let invalidRevision = Code(name: "bad_request")
        /// An attachment stub refers to data the store does not have (CouchDB 412 `missing_stub`).
        public static let missingStub = Code(name: "missing_stub")
        /// The file is not a bgsync database, is corrupt, or was written by a newer bgsync.
        public static let notADatabase = Code(name: "not_a_database")
        /// SQLite failed to read or write (disk full, permissions, I/O).
        public static let io = Code(name: "io_error")
        /// Another process kept the file locked for longer than the busy timeout; try again later.
        public static let busy = Code(name: "locked")
        public var description: String { name }
    }

    /// The kind of failure.
    public let code: Code
    /// A sentence for humans naming the file, document, revision or field at fault.
    public let message: String
    /// CouchDB's `reason` for the same failure where one exists (`missing`, `deleted`, …).
    public let reason: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, reason: String? = nil) {
        self.code = code
        self.message = message
        self.reason = reason
    }

    /// CouchDB's `error` string for this failure.
    public var couchError: String { code.name }

    public var description: String { message }

    static func invalidRevision(_ text: String, reason: String) -> StoreError {
        StoreError(.invalidRevision, "invalid revision id \"\(text)\": \(reason)")
    }

    static func invalidDocument(_ id: String?, _ problem: String) -> StoreError {
        if let id { return StoreError(.invalidDocument, "document \"\(id)\": \(problem)") }
        return StoreError(.invalidDocument, problem)
    }

    /// The store lists an attachment whose data it does not hold (a broken file).
    package static func missingAttachmentData(_ path: String, _ attachment: StoredAttachment, documentID id: String) -> StoreError {
        StoreError(.io, "\(path): the data of attachment \(attachment.name) (\(attachment.digest)) of document \(id) is missing")
    }

    static func notFound(_ id: String, reason: String) -> StoreError {
        StoreError(.notFound, "document \"\(id)\" not found (\(reason))", reason: reason)
    }

    static func conflict(_ id: String, _ detail: String) -> StoreError {
        StoreError(.conflict, "document \"\(id)\": update conflict: \(detail)", reason: "Document update conflict.")
    }
}
