import BGSyncStore
import Foundation

/// `GET`, `PUT`, `DELETE /db/ID`, `POST /db` and `GET /db/ID/attachment`.
extension Routes {
    func document(_ request: CouchRequest, _ db: DatabaseContext, id: String) throws(FixtureError) -> FixtureResponse {
        switch request.method {
        case "GET": return try getDocument(request, db, id: id)
        case "PUT": return try putDocument(request, db, id: id)
        case "DELETE": return try deleteDocument(request, db, id: id)
        default: throw FixtureError.methodNotAllowed("DELETE,GET,HEAD,POST,PUT,COPY")
        }
    }

    /// How attachments appear: `attachments=true` inlines all, `atts_since=[…]` inlines those
    /// changed since, otherwise stubs.
    static func attachmentMode(_ request: CouchRequest) throws(FixtureError) -> AttachmentMode {
        if request.flag("attachments") { return .data }
        if let since = try request.jsonParameter("atts_since") {
            return .since(try since.revisionList(field: "atts_since"))
        }
        return .stubs
    }

    static func revision(_ text: String) throws(FixtureError) -> RevisionID {
        guard let rev = try? RevisionID(parsing: text) else { throw FixtureError(400, "bad_request", "Invalid rev format") }
        return rev
    }

    static func etag(_ rev: String) -> (String, String) {
        ("ETag", "\"\(rev)\"")
    }

    func getDocument(_ request: CouchRequest, _ db: DatabaseContext, id: String) throws(FixtureError) -> FixtureResponse {
        let mode = try Self.attachmentMode(request)
        if let openRevs = request.parameter("open_revs") {
            let revs: [RevisionID]?
            if openRevs == "all" {
                revs = nil
            } else {
                guard let value = try? JSONValue.parse(openRevs) else {
                    throw FixtureError(400, "bad_request", "Invalid JSON in the open_revs parameter")
                }
                revs = try value.revisionList(field: "open_revs")
            }
            let latest = request.flag("latest")
            let results = try Self.store { try db.store.read { try $0.openRevisions(id, revs: revs, latest: latest, attachments: mode) } }
            if revs == nil && results.isEmpty { throw FixtureError.missing }
            let keepRevisions = request.flag("revs")
            let items = results.map { result -> String in
                switch result {
                case .ok(let json), .okFollowing(let json, _): "{\"ok\":" + (keepRevisions ? json : JSONText.removing(["_revisions"], from: json)) + "}"
                case .missing(let rev), .invalid(let rev, _): "{\"missing\":" + JSONText.quoted(rev.description) + "}"
                }
            }
            return .json(200, JSONText.array(items))
        }
        let options = DocumentOptions(
            rev: try request.parameter("rev").map { text throws(FixtureError) in try Self.revision(text) },
            revs: request.flag("revs"), conflicts: request.flag("conflicts"),
            deletedConflicts: request.flag("deleted_conflicts"), attachments: mode)
        let json = try Self.store { try db.store.read { try $0.document(id, options: options) } }
        let rev = JSONText.member("_rev", in: json)?.stringValue ?? ""
        return .json(200, json, headers: [Self.etag(rev)])
    }

    /// Runs the configured validation hook; 403 `forbidden` when it refuses.
    func validate(id: String, json: String) throws(FixtureError) {
        if let reason = core.configuration.validate?(id, json) {
            throw FixtureError(403, "forbidden", reason)
        }
    }

    /// The body as a document, compacted first (400 `invalid UTF-8 JSON` when it is not JSON).
    static func incoming(_ bytes: [UInt8]) throws(FixtureError) -> (document: IncomingDocument, json: String) {
        _ = try JSONText.parse(bytes)
        let compact = JSONText.minified(bytes)
        return (try store { try IncomingDocument(json: compact) }, String(decoding: compact, as: UTF8.self))
    }

    func putDocument(_ request: CouchRequest, _ db: DatabaseContext, id: String) throws(FixtureError) -> FixtureResponse {
        var (document, json) = try Self.incoming(try Self.documentBody(request))
        if document.rev == nil, let text = request.parameter("rev") {
            document.rev = try Self.revision(text)
        }
        let newEdits = request.parameter("new_edits") != "false"
        try validate(id: id, json: json)
        let saved = document
        let rev = try Self.store { try db.store.write { try Self.save(saved, id: id, newEdits: newEdits, writer: $0) } }
        return .json(201, "{\"ok\":true,\"id\":\(JSONText.quoted(id)),\"rev\":\(JSONText.quoted(rev.description))}",
                     headers: [Self.etag(rev.description), ("Location", location(request, db.name + "/" + Self.encodeDocumentID(id)))])
    }

    func createDocument(_ request: CouchRequest, _ db: DatabaseContext) throws(FixtureError) -> FixtureResponse {
        let (document, json) = try Self.incoming(request.body)
        let id = document.id ?? Self.newDocumentID()
        try validate(id: id, json: json)
        let rev = try Self.store { try db.store.write { try Self.save(document, id: id, newEdits: true, writer: $0) } }
        return .json(201, "{\"ok\":true,\"id\":\(JSONText.quoted(id)),\"rev\":\(JSONText.quoted(rev.description))}",
                     headers: [Self.etag(rev.description), ("Location", location(request, db.name + "/" + Self.encodeDocumentID(id)))])
    }

    func deleteDocument(_ request: CouchRequest, _ db: DatabaseContext, id: String) throws(FixtureError) -> FixtureResponse {
        let ifMatch = request.headers["if-match"].map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        guard let text = request.parameter("rev") ?? ifMatch else { throw FixtureError.conflict }
        let base = try Self.revision(text)
        try validate(id: id, json: "{\"_id\":\(JSONText.quoted(id)),\"_rev\":\(JSONText.quoted(text)),\"_deleted\":true}")
        let rev = try Self.store { try db.store.write { try $0.delete(id: id, rev: base) } }
        return .json(200, "{\"ok\":true,\"id\":\(JSONText.quoted(id)),\"rev\":\(JSONText.quoted(rev.description))}",
                     headers: [Self.etag(rev.description)])
    }

    /// `GET /db/ID/name`: the attachment's data with its content type, and CouchDB's `ETag`
    /// (the digest's base64 MD5, quoted, without the `md5-` prefix; 304 for a matching
    /// `If-None-Match`) and `Accept-Ranges`.
    func attachment(_ request: CouchRequest, _ db: DatabaseContext, id: String, name: String) throws(FixtureError) -> FixtureResponse {
        try Self.allow(request, "GET,HEAD")
        let options = DocumentOptions(rev: try request.parameter("rev").map { text throws(FixtureError) in try Self.revision(text) })
        let found: (data: [UInt8], contentType: String, digest: String)? = try Self.store {
            try db.store.read { reader in
                let json = try reader.document(id, options: options)
                guard let stub = JSONText.member("_attachments", in: json)?[name],
                      let digest = stub["digest"]?.stringValue,
                      let data = try reader.attachmentData(digest: digest)
                else { return nil }
                return (data, stub["content_type"]?.stringValue ?? "application/octet-stream", digest)
            }
        }
        guard let found else { throw FixtureError(404, "not_found", "Document is missing attachment") }
        let etag = "\"" + (found.digest.hasPrefix("md5-") ? String(found.digest.dropFirst(4)) : found.digest) + "\""
        // chttpd:etag_respond: 304 when If-None-Match names the ETag.
        let known = request.headers["if-none-match"]?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
        if known.contains(etag) { return FixtureResponse(status: 304, headers: [("ETag", etag)], body: []) }
        return FixtureResponse(status: 200, headers: [("Content-Type", found.contentType), ("ETag", etag), ("Accept-Ranges", "bytes")],
                               body: found.data)
    }

    /// The id as a path: percent-encoded, but `_design/` and `_local/` keep their slash.
    static func encodeDocumentID(_ id: String) -> String {
        for prefix in ["_design/", "_local/"] where id.hasPrefix(prefix) {
            return prefix + encodeSegment(String(id.dropFirst(prefix.count)))
        }
        return encodeSegment(id)
    }
}
