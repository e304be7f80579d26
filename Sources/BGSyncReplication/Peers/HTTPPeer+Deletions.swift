import BGSyncStore

extension HTTPPeer {
    /// `doc_count` from the `GET /db` of ``open()``: no extra request.
    package func liveDocumentCount() async throws -> Int? {
        if documentCountAtOpen == nil { _ = try await open() }
        return documentCountAtOpen
    }

    /// `POST /db/_all_docs` with `{"keys":[…]}`: a live document's row has a `value` without
    /// `"deleted":true`; a missing one is `{"key":…,"error":"not_found"}`.
    package func liveDocumentIDs(among ids: [String]) async throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        var body = "{\"keys\":["
        for (index, id) in ids.enumerated() {
            if index > 0 { body += "," }
            JSONString.append(id, to: &body)
        }
        body += "]}"
        let context = "POST \(displayName)/_all_docs"
        let response = try await client.send(.POST, "/_all_docs", body: Array(body.utf8))
        try check(response, context)
        guard let rows = try response.json(context)["rows"]?.arrayValue else {
            throw ReplicationError(.malformedResponse, "\(context): the response has no \"rows\" array")
        }
        var live = Set<String>()
        for row in rows {
            guard row["error"] == nil, let value = row["value"], value["deleted"]?.boolValue != true,
                  let id = row["id"]?.stringValue ?? row["key"]?.stringValue else { continue }
            live.insert(id)
        }
        return live
    }
}
