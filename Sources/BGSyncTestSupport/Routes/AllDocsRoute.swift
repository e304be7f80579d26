import BGSyncStore

/// `GET`/`POST /db/_all_docs`: `include_docs`, `conflicts`, `limit`, `skip`, `descending`,
/// `startkey`/`start_key`, `endkey`/`end_key`, `inclusive_end`, and `keys` (query or POST body).
extension Routes {
    func allDocs(_ request: CouchRequest, _ db: DatabaseContext) throws(FixtureError) -> FixtureResponse {
        try Self.allow(request, "GET,POST")
        let includeDocs = request.flag("include_docs")
        let conflicts = request.flag("conflicts")
        let limit = try request.integer("limit")
        let skip = try request.integer("skip") ?? 0
        let descending = request.flag("descending")
        let inclusiveEnd = request.parameter("inclusive_end") != "false"
        let startKey = try request.jsonParameter(request.parameter("startkey") != nil ? "startkey" : "start_key")?.stringValue
        let endKey = try request.jsonParameter(request.parameter("endkey") != nil ? "endkey" : "end_key")?.stringValue
        var keys: [JSONValue]?
        if request.method == "POST", !request.body.isEmpty {
            keys = try request.jsonObjectBody()["keys"]?.arrayValue
        }
        if keys == nil, let value = try request.jsonParameter("keys") { keys = value.arrayValue }
        let requestedKeys = keys

        let text = try Self.store {
            try db.store.read { reader -> String in
                func doc(_ summary: DocumentSummary) throws -> String {
                    guard includeDocs else { return "" }
                    if summary.deleted { return ",\"doc\":null" }
                    return ",\"doc\":" + (try reader.document(summary.id, options: DocumentOptions(conflicts: conflicts)))
                }
                func row(_ summary: DocumentSummary) throws -> String {
                    var value = "{\"rev\":" + JSONText.quoted(summary.rev.description)
                    if summary.deleted { value += ",\"deleted\":true" }
                    value += "}"
                    return "{\"id\":" + JSONText.quoted(summary.id) + ",\"key\":" + JSONText.quoted(summary.id)
                        + ",\"value\":" + value + (try doc(summary)) + "}"
                }
                let live = try reader.allDocuments()
                var rows: [String] = []
                var offset = 0
                if let requestedKeys {
                    let everything = Dictionary(try reader.allDocuments(includeDeleted: true).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                    for key in requestedKeys {
                        if let id = key.stringValue, let summary = everything[id] {
                            rows.append(try row(summary))
                        } else {
                            rows.append("{\"key\":" + key.serialized + ",\"error\":\"not_found\"}")
                        }
                    }
                } else {
                    var ordered = descending ? Array(live.reversed()) : live
                    func before(_ a: String, _ b: String) -> Bool {
                        descending ? b.utf8.lexicographicallyPrecedes(a.utf8) : a.utf8.lexicographicallyPrecedes(b.utf8)
                    }
                    if let startKey {
                        let first = ordered.firstIndex { !before($0.id, startKey) } ?? ordered.count
                        offset = first
                        ordered = Array(ordered[first...])
                    }
                    if let endKey {
                        ordered = ordered.filter { before($0.id, endKey) || (inclusiveEnd && $0.id == endKey) }
                    }
                    offset += min(skip, ordered.count)
                    var selected = ordered.dropFirst(skip)
                    if let limit { selected = selected.prefix(limit) }
                    rows = try selected.map(row)
                }
                return "{\"total_rows\":\(live.count),\"offset\":\(offset),\"rows\":[\n" + rows.joined(separator: ",\n") + "\n]}\n"
            }
        }
        return FixtureResponse(status: 200, body: Array(text.utf8))
    }
}
