extension FixtureServer {
    /// How the server writes update sequences (`update_seq`, `seq`, `last_seq`).
    public enum SequenceStyle: Sendable, Equatable {
        /// CouchDB 2+ style opaque strings such as `"12-g1AAAAB…"`. The number before the dash is
        /// the store's sequence, the rest is filler the server checks on input, so a client that
        /// builds or edits a sequence instead of sending back one it was given gets 400.
        case opaque
        /// PouchDB style JSON integers.
        case integers
    }

    /// What the fixture server accepts and how it answers. Every field has a default, so a test
    /// changes only what it is about.
    public struct Configuration: Sendable {
        /// Server admins, name → password. Empty (the default) is CouchDB's "admin party": no
        /// credentials needed. Otherwise every request except `GET /`, `GET /_up` and
        /// `/_session` needs Basic credentials, a valid `AuthSession` cookie or a bearer token,
        /// or gets 401 `{"error":"unauthorized","reason":"You are not authorized to access this db."}`.
        public var users: [String: String]
        /// Bearer tokens (`Authorization: Bearer …`, as CouchDB's JWT handler), token → user
        /// name. Unknown tokens get 401. Empty by default.
        public var bearerTokens: [String: String]
        /// How sequences look on the wire; ``SequenceStyle/opaque`` by default.
        public var sequences: SequenceStyle
        /// Whether `POST /db/_bulk_get` exists (the default). `false` behaves like CouchDB 1.x,
        /// which treats `_bulk_get` as a document id: 400
        /// `{"error":"bad_request","reason":"Only reserved document ids may start with underscore."}`.
        public var bulkGet: Bool
        /// The largest request body accepted, in bytes; larger ones get 413
        /// `{"error":"too_large","reason":"the request entity is too large"}`. nil (the default)
        /// accepts any size.
        public var maxRequestBodyBytes: Int?
        /// A stand-in for design documents' `validate_doc_update`: called with the document id
        /// and the JSON of each document written (by `PUT`, `POST /db` or `_bulk_docs`);
        /// a non-nil result refuses the document as `forbidden` with that reason (403 for a single
        /// write, a `{"id","rev","error":"forbidden","reason"}` item in `_bulk_docs`).
        public var validate: (@Sendable (_ id: String, _ json: String) -> String?)?
        /// The `Server` header of every response.
        public var serverHeader: String
        /// Whether the server speaks HTTPS with ``FixtureCertificate`` (self-signed for
        /// `127.0.0.1`) instead of plain HTTP; false by default. A client trusts it only when
        /// given the certificate as its CA file (or with verification turned off).
        public var tls: Bool

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - users: server admins, name → password; empty (the default) needs no credentials.
        ///   - bearerTokens: accepted bearer tokens, token → user name; empty by default.
        ///   - sequences: ``SequenceStyle/opaque`` (default) or ``SequenceStyle/integers``.
        ///   - bulkGet: whether `_bulk_get` exists; `true` by default.
        ///   - maxRequestBodyBytes: the largest request body accepted; nil (default) for no limit.
        ///   - validate: a per-document write check; nil (default) accepts everything.
        ///   - serverHeader: the `Server` header; CouchDB 3.4.3's by default.
        ///   - tls: HTTPS with ``FixtureCertificate``; false (plain HTTP) by default.
        public init(
            users: [String: String] = [:],
            bearerTokens: [String: String] = [:],
            sequences: SequenceStyle = .opaque,
            bulkGet: Bool = true,
            maxRequestBodyBytes: Int? = nil,
            validate: (@Sendable (_ id: String, _ json: String) -> String?)? = nil,
            serverHeader: String = "CouchDB/3.4.3 (Erlang OTP/25)",
            tls: Bool = false
        ) {
            self.users = users
            self.bearerTokens = bearerTokens
            self.sequences = sequences
            self.bulkGet = bulkGet
            self.maxRequestBodyBytes = maxRequestBodyBytes
            self.validate = validate
            self.serverHeader = serverHeader
            self.tls = tls
        }
    }
}
