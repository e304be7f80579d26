import BGSyncStore

/// `_bulk_docs`, `_bulk_get` and `_revs_diff`.
extension Routes {
    // MARK: _bulk_docs

    /// One element of `docs`: the parsed document and its JSON text.
    struct BulkItem {
        var document: IncomingDocument
        var json: String
    }

    func bulkDocs(_ request: CouchRequest, _ db: DatabaseContext) throws(FixtureError) -> FixtureResponse {
        try Self.allow(request, "POST")
        _ = try Self.parseBulkDocsBody(request.body)
        let body = JSONText.minified(request.body)
        let (ranges, newEdits) = try Self.parseBulkDocsBody(body)
        var items: [BulkItem] = []
        for range in ranges {
            let document = try Self.store { try IncomingDocument(json: body, range: range) }
            items.append(BulkItem(document: document, json: String(decoding: body[range], as: UTF8.self)))
        }
        if !newEdits, items.contains(where: { $0.document.rev == nil && $0.document.revisions == nil }) {
            throw FixtureError(400, "bad_request", "When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
        }
        let validate = core.configuration.validate
        let rows: [String] = try Self.store {
            try db.store.write { writer -> [String] in
                var rows: [String] = []
                for item in items {
                    let revText = (item.document.revisions?.first ?? item.document.rev)?.description
                    guard let id = item.document.id ?? (newEdits ? Self.newDocumentID() : nil) else {
                        rows.append(Self.failureRow(id: nil, rev: revText, error: "bad_request", reason: "Document id must be a string"))
                        continue
                    }
                    if let reason = validate?(id, item.json) {
                        rows.append(Self.failureRow(id: id, rev: revText, error: "forbidden", reason: reason))
                        continue
                    }
                    do {
                        let rev = try Self.save(item.document, id: id, newEdits: newEdits, writer: writer)
                        if newEdits {
                            rows.append("{\"ok\":true,\"id\":\(JSONText.quoted(id)),\"rev\":\(JSONText.quoted(rev.description))}")
                        }
                    } catch let error as StoreError where error.code != .missingStub && error.code != .io && error.code != .notADatabase {
                        let mapped = Self.map(error)
                        rows.append(Self.failureRow(id: id, rev: newEdits ? nil : revText, error: mapped.error, reason: mapped.reason))
                    } catch let error as FixtureError where error.status == 409 {
                        rows.append(Self.failureRow(id: id, rev: nil, error: error.error, reason: error.reason))
                    }
                }
                return rows
            }
        }
        return .json(201, JSONText.array(rows))
    }

    static func failureRow(id: String?, rev: String?, error: String, reason: String) -> String {
        var members: [(String, String)] = [("id", id.map(JSONText.quoted) ?? "null")]
        if let rev { members.append(("rev", JSONText.quoted(rev))) }
        members.append(("error", JSONText.quoted(error)))
        members.append(("reason", JSONText.quoted(reason)))
        return JSONText.object(members)
    }

    /// The byte ranges of the `docs` elements and `new_edits`, without decoding the documents.
    static func parseBulkDocsBody(_ bytes: [UInt8]) throws(FixtureError) -> (ranges: [Range<Int>], newEdits: Bool) {
        var reader = JSONReader(bytes)
        var ranges: [Range<Int>]?
        var newEdits = true
        var problem: FixtureError?
        do {
            try reader.beginObject()
            while let key = try reader.nextKey() {
                switch key {
                case "docs" where try reader.peekKind() == .array:
                    var found: [Range<Int>] = []
                    try reader.beginArray()
                    while try reader.nextElement() {
                        if try reader.peekKind() != .object {
                            problem = FixtureError(400, "bad_request", "Document must be a JSON object")
                        }
                        found.append(try reader.skipValue())
                    }
                    ranges = found
                case "new_edits" where try reader.peekKind() == .bool:
                    newEdits = try reader.readBool()
                case "docs":
                    problem = FixtureError(400, "bad_request", "`docs` parameter must be an array.")
                    try reader.skipValue()
                case "new_edits":
                    problem = FixtureError(400, "bad_request", "`new_edits` parameter must be a boolean.")
                    try reader.skipValue()
                default:
                    try reader.skipValue()
                }
            }
            try reader.finish()
        } catch {
            throw FixtureError.invalidJSON
        }
        if let problem { throw problem }
        guard let ranges else { throw FixtureError(400, "bad_request", "POST body must include `docs` parameter.") }
        return (ranges, newEdits)
    }

    // MARK: _bulk_get

    func bulkGet(_ request: CouchRequest, _ db: DatabaseContext) throws(FixtureError) -> FixtureResponse {
        guard core.configuration.bulkGet else {
            // CouchDB 1.x has no _bulk_get: it reads the name as a document id.
            throw FixtureError(400, "bad_request", "Only reserved document ids may start with underscore.")
        }
        try Self.allow(request, "POST")
        let body = try request.jsonObjectBody()
        guard let items = body["docs"]?.arrayValue else {
            throw FixtureError(400, "bad_request", "Missing JSON list of 'docs'.")
        }
        let revs = request.flag("revs")
        let latest = request.flag("latest")
        let defaultMode: AttachmentMode = request.flag("attachments") ? .data : .stubs
        let results: [String] = try Self.store {
            try db.store.read { reader -> [String] in
                try items.map { item -> String in
                    guard let id = item["id"]?.stringValue else {
                        let error = Self.bulkGetError(id: nil, rev: nil, error: "illegal_docid", reason: "Document id must be a string")
                        return "{\"id\":null,\"docs\":[\(error)]}"
                    }
                    var docs: [String] = []
                    var mode = defaultMode
                    if let since = item["atts_since"], !since.isNull {
                        mode = .since(try since.revisionList(field: "atts_since"))
                    }
                    if let revText = item["rev"]?.stringValue {
                        if let rev = try? RevisionID(parsing: revText) {
                            for result in try reader.openRevisions(id, revs: [rev], latest: latest, attachments: mode) {
                                switch result {
                                case .ok(let json), .okFollowing(let json, _):
                                    docs.append("{\"ok\":" + (revs ? json : JSONText.removing(["_revisions"], from: json)) + "}")
                                case .missing(let missing):
                                    docs.append(Self.bulkGetError(id: id, rev: missing.description, error: "not_found", reason: "missing"))
                                case .invalid(let bad, let reason):
                                    docs.append(Self.bulkGetError(id: id, rev: bad.description, error: "bad_request", reason: reason))
                                }
                            }
                        } else {
                            docs.append(Self.bulkGetError(id: id, rev: revText, error: "bad_request", reason: "Invalid rev format"))
                        }
                    } else {
                        do {
                            let json = try reader.document(id, options: DocumentOptions(revs: revs, attachments: mode))
                            docs.append("{\"ok\":" + json + "}")
                        } catch let error as StoreError where error.code == .notFound {
                            docs.append(Self.bulkGetError(id: id, rev: "undefined", error: "not_found", reason: error.reason ?? "missing"))
                        }
                    }
                    return "{\"id\":" + JSONText.quoted(id) + ",\"docs\":" + JSONText.array(docs) + "}"
                }
            }
        }
        return .json(200, "{\"results\":" + JSONText.array(results) + "}")
    }

    /// `{"error":{"rev","reason","id","error"}}`, in CouchDB 3.4.3's member order.
    static func bulkGetError(id: String?, rev: String?, error: String, reason: String) -> String {
        "{\"error\":" + JSONText.object([
            ("rev", rev.map(JSONText.quoted) ?? "null"),
            ("reason", JSONText.quoted(reason)),
            ("id", id.map(JSONText.quoted) ?? "null"),
            ("error", JSONText.quoted(error)),
        ]) + "}"
    }

    // MARK: _revs_diff

    func revsDiff(_ request: CouchRequest, _ db: DatabaseContext) throws(FixtureError) -> FixtureResponse {
        try Self.allow(request, "POST")
        let body = try request.jsonObjectBody()
        var asked: [(id: String, revs: [RevisionID])] = []
        for member in body.members {
            asked.append((member.key, try member.value.revisionList(field: "revs")))
        }
        let diff = try Self.store { try db.store.read { try $0.revsDiff(asked) } }
        let members = diff.map { entry -> (String, String) in
            var fields = [("missing", JSONText.stringArray(entry.entry.missing.map(\.description)))]
            if !entry.entry.possibleAncestors.isEmpty {
                fields.append(("possible_ancestors", JSONText.stringArray(entry.entry.possibleAncestors.map(\.description))))
            }
            return (entry.id, JSONText.object(fields))
        }
        return .json(200, JSONText.object(members))
    }
}
