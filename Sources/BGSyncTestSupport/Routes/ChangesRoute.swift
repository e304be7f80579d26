import BGSyncStore

/// `GET`/`POST /db/_changes` (`feed=normal` only).
extension Routes {
    /// Which documents and revisions a feed lists.
    enum ChangesFilter {
        case none
        case documentIDs(Set<String>)
        case selector(MangoSelector)
        case design
    }

    struct ChangesOptions {
        var since: SequenceCodec.Since
        var limit: Int?
        var allLeaves: Bool
        var includeDocs: Bool
        var conflicts: Bool
        var attachments: AttachmentMode
        var filter: ChangesFilter
    }

    func changes(_ request: CouchRequest, _ db: DatabaseContext) throws(FixtureError) -> FixtureResponse {
        try Self.allow(request, "GET,POST")
        let feed = request.parameter("feed") ?? "normal"
        guard feed == "normal" else {
            throw FixtureError(400, "bad_request", "The fixture server supports only feed=normal, not feed=\(feed).")
        }
        if request.flag("descending") {
            throw FixtureError(400, "bad_request", "The fixture server does not support descending=true.")
        }
        let options = ChangesOptions(
            since: try core.sequences.decode(request.parameter("since") ?? "0"),
            limit: try request.integer("limit"),
            allLeaves: request.parameter("style") == "all_docs",
            includeDocs: request.flag("include_docs"),
            conflicts: request.flag("conflicts"),
            attachments: request.flag("attachments") ? .data : .stubs,
            filter: try Self.changesFilter(request))
        let sequences = core.sequences
        let text = try Self.store { try db.store.read { try Self.changesFeed($0, options, sequences) } }
        return FixtureResponse(status: 200, body: Array(text.utf8))
    }

    static func changesFilter(_ request: CouchRequest) throws(FixtureError) -> ChangesFilter {
        guard let name = request.parameter("filter") else { return .none }
        switch name {
        case "_doc_ids":
            var ids: JSONValue?
            if request.method == "POST", !request.body.isEmpty {
                ids = try request.jsonObjectBody()["doc_ids"]
            }
            if ids == nil { ids = try request.jsonParameter("doc_ids") }
            guard let array = ids?.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
                throw FixtureError(400, "bad_request", "`doc_ids` filter parameter is not a list of doc ids.")
            }
            return .documentIDs(Set(array.compactMap(\.stringValue)))
        case "_selector":
            guard request.method == "POST", !request.body.isEmpty, let selector = try request.jsonObjectBody()["selector"] else {
                throw FixtureError(400, "bad_request", "Selector must be specified in POST payload")
            }
            return .selector(try MangoSelector(selector))
        case "_design":
            return .design
        default:
            if name.contains("/") { throw FixtureError(404, "not_found", "missing") }
            throw FixtureError(400, "bad_request", "`filter` parameter is not correctly formatted")
        }
    }

    /// The feed's JSON, laid out as CouchDB writes it (one row per line).
    static func changesFeed(_ reader: StoreReader, _ options: ChangesOptions, _ sequences: SequenceCodec) throws -> String {
        // Not info(): it counts every document, which made each batch of a large pull cost O(N).
        let updateSeq = try reader.updateSeq()
        let start: Int = switch options.since {
        case .now: updateSeq
        case .seq(let seq): seq
        }
        var rows: [String] = []
        var lastRowSeq: Int?
        var cursor = start
        let pageSize = 1000
        if options.limit != 0 {
            scan: while true {
                let page = try reader.changes(since: cursor, limit: pageSize)
                for change in page {
                    cursor = change.seq
                    guard let revs = try listedRevisions(change, options.filter, options.allLeaves, reader) else { continue }
                    rows.append(try changeRow(change, revs: revs, options: options, sequences: sequences, reader: reader))
                    lastRowSeq = change.seq
                    if let limit = options.limit, rows.count >= limit { break scan }
                }
                if page.count < pageSize { break }
            }
        }
        let limitReached = options.limit.map { rows.count >= $0 } ?? false
        let lastSeq = limitReached ? (lastRowSeq ?? start) : max(updateSeq, start)
        // CouchDB counts `pending` from the last row for a _doc_ids feed, from last_seq otherwise.
        var pendingFrom = lastSeq
        if case .documentIDs = options.filter { pendingFrom = lastRowSeq ?? start }
        let pending = pendingFrom >= updateSeq ? 0 : try reader.changeCount(since: pendingFrom)
        return "{\"results\":[\n" + rows.joined(separator: ",\n") + "\n],\n\"last_seq\":" + sequences.json(lastSeq)
            + ",\"pending\":\(pending)}\n"
    }

    /// The revisions a row lists after filtering, or nil to leave the document out.
    static func listedRevisions(_ change: Change, _ filter: ChangesFilter, _ allLeaves: Bool, _ reader: StoreReader) throws -> [RevisionID]? {
        let revs = allLeaves ? change.leaves : Array(change.leaves.prefix(1))
        switch filter {
        case .none:
            return revs
        case .documentIDs(let ids):
            return ids.contains(change.id) ? revs : nil
        case .design:
            return change.id.hasPrefix("_design/") ? revs : nil
        case .selector(let selector):
            let matching = try revs.filter { rev in
                let json = try reader.document(change.id, options: DocumentOptions(rev: rev))
                return selector.matches(try JSONValue.parse(json))
            }
            return matching.isEmpty ? nil : matching
        }
    }

    static func changeRow(_ change: Change, revs: [RevisionID], options: ChangesOptions, sequences: SequenceCodec,
                          reader: StoreReader) throws -> String {
        var row = "{\"seq\":" + sequences.json(change.seq) + ",\"id\":" + JSONText.quoted(change.id) + ",\"changes\":"
        row += JSONText.array(revs.map { "{\"rev\":" + JSONText.quoted($0.description) + "}" })
        if change.deleted { row += ",\"deleted\":true" }
        if options.includeDocs {
            let documentOptions = change.deleted
                ? DocumentOptions(rev: change.leaves.first, attachments: options.attachments)
                : DocumentOptions(conflicts: options.conflicts, attachments: options.attachments)
            row += ",\"doc\":" + (try reader.document(change.id, options: documentOptions))
        }
        return row + "}"
    }
}
