import BGSyncStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// A CouchDB-compatible database over HTTP (Apache CouchDB, Cloudant, PouchDB Server,
/// Couchbase Sync Gateway).
package final class HTTPPeer: ReplicationPeer {
    let client: CouchClient
    private let state = Mutex(State())

    struct State {
        var identity: String?
        var bulkGet = true
        var checkpointRevs: [String: String] = [:]
        var documentCount: Int?
        var emptyAtOpen = false
        var lossMarker: String?
    }

    /// Where attachment data too big to hold in memory is written on its way to the target.
    let spoolDirectory: String
    /// How much attachment data a batch spools when it is fetched (``AttachmentFetch``).
    let spoolBytesPerBatch: Int

    /// Connects lazily to the database at `url`.
    /// - Parameter spoolDirectory: where attachment data larger than
    ///   ``FetchedRevision/inlineAttachmentLimit`` waits on its way (best beside the local store).
    /// - Parameter spoolBytesPerBatch: how much of a batch's attachment data is spooled when
    ///   it is fetched; the rest just before each document is written.
    package init(url: URLComponentsLite, options: HTTPOptions, logger: Logger, spoolDirectory: String = NSTemporaryDirectory(),
                 spoolBytesPerBatch: Int = ReplicatorConfiguration.defaultSpoolBytesPerBatch) throws {
        client = try CouchClient(url: url, options: options, logger: logger)
        self.spoolDirectory = spoolDirectory
        self.spoolBytesPerBatch = spoolBytesPerBatch
    }

    /// Closes connections; call once done.
    package func shutdown() async {
        await client.shutdown()
    }

    package var displayName: String { client.url.description }

    /// A checkpoint is a request of its own (`PUT _local/…`).
    package var checkpointsWithWrites: Bool { false }

    package var traffic: PeerTraffic {
        let bytes = client.bytes
        return PeerTraffic(requests: client.requestCount, bytesReceived: bytes.received, bytesSent: bytes.sent)
    }

    package func open() async throws -> String {
        if let identity = state.withLock({ $0.identity }) { return identity }
        let response = try await client.send(.GET, "")
        try check(response, "GET \(displayName)")
        let info = try response.json("GET \(displayName)")
        let identity = "couchdb:" + displayName
        state.withLock {
            $0.identity = identity
            $0.documentCount = info["doc_count"]?.intValue
            $0.emptyAtOpen = info["doc_count"]?.intValue == 0 && info["doc_del_count"]?.intValue == 0
            $0.lossMarker = Self.lossMarker(info)
        }
        return identity
    }

    package var revisionLossMarker: String? { state.withLock { $0.lossMarker } }

    package func currentRevisionLossMarker() async throws -> String? {
        let response = try await client.send(.GET, "")
        try check(response, "GET \(displayName)")
        return Self.lossMarker(try response.json("GET \(displayName)"))
    }

    /// `purge_seq` (a number, or an opaque string on a cluster), which changes with every
    /// purge, and `instance_start_time`, which changes when the database is created again;
    /// nil for a server that does not report `purge_seq` (it cannot tell about purges).
    static func lossMarker(_ info: JSONValue) -> String? {
        guard let purgeSeq = info["purge_seq"], purgeSeq != .null else { return nil }
        return purgeSeq.serialized + " " + (info["instance_start_time"]?.serialized ?? "-")
    }

    /// `doc_count` and `doc_del_count` were both 0 in ``open()``'s `GET /db` (a server that
    /// does not report them is not known to be empty).
    package var wasEmptyAtOpen: Bool { state.withLock { $0.emptyAtOpen } }

    /// `doc_count` as `GET /db` reported it in ``open()``; nil before, or when the server
    /// does not report one.
    var documentCountAtOpen: Int? { state.withLock { $0.documentCount } }

    /// `error` with the credentials this peer sends removed from its message (a server may
    /// echo them in any text it returns); what else it carries is kept.
    package func scrubbed(_ error: ReplicationError) -> ReplicationError {
        var clean = ReplicationError(error.kind, client.scrub(error.message))
        clean.partialResult = error.partialResult
        return clean
    }

    /// Maps a refusal to an error; returns for 2xx.
    func check(_ response: CouchResponse, _ context: String) throws {
        guard !(200...299).contains(response.status) else { return }
        let detail = client.scrub(response.couchError.map { "\($0.error): \($0.reason)" } ?? "HTTP \(response.status)")
        switch response.status {
        case 401:
            throw ReplicationError(.unauthorized, "\(context): authentication refused (\(detail)); check the user and password or token")
        case 403:
            throw ReplicationError(.unauthorized, "\(context): permission refused (\(detail))")
        case 404 where response.couchError?.reason == "Database does not exist." || response.couchError?.reason == "no_db_file" || context.hasPrefix("GET \(displayName)"):
            throw ReplicationError(.databaseNotFound, "the database \(client.url.databaseName) does not exist at \(client.url.origin) (\(detail))")
        case 300...399:
            // Not followed (a redirect could carry credentials elsewhere, and a moved database
            // will not move back): the configuration names the wrong URL.
            throw ReplicationError(.configuration, "\(context): the server redirects (HTTP \(response.status)) to \(redirectTarget(response)); bgsync does not follow redirects: use that URL as the remote")
        default:
            throw ReplicationError(.rejected, "\(context): \(detail)")
        }
    }

    /// Where a 3xx points: its `Location` made absolute against this server, without user
    /// info or any secret this peer sends; "an unnamed location" when it has none.
    func redirectTarget(_ response: CouchResponse) -> String {
        guard let location = response.headers.first(name: "Location"), !location.isEmpty else { return "an unnamed location (no Location header)" }
        let absolute = URL(string: location, relativeTo: URL(string: client.url.description))?.absoluteURL.absoluteString ?? location
        return client.scrub(URLComponentsLite.redact(absolute))
    }

    package func readCheckpoint(id: String) async throws -> JSONValue? {
        let path = "/_local/" + id
        let response = try await client.send(.GET, path)
        if response.status == 404, response.couchError?.reason != "Database does not exist." { return nil }
        try check(response, "GET \(displayName)\(path)")
        let value = try response.json("GET \(displayName)\(path)")
        if let rev = value["_rev"]?.stringValue { state.withLock { $0.checkpointRevs[id] = rev } }
        return value
    }

    package func writeCheckpoint(id: String, body: JSONValue) async throws {
        let path = "/_local/" + id
        for attempt in 0..<2 {
            var document = body.objectValue ?? JSONObject()
            if let rev = state.withLock({ $0.checkpointRevs[id] }) { document.set("_rev", .string(rev)) }
            let response = try await client.send(.PUT, path, body: Array(JSONValue.object(document).serialized.utf8))
            if response.status == 409, attempt == 0 {
                // PouchDB and Sync Gateway check _rev on _local documents: learn it and retry once.
                _ = try await readCheckpoint(id: id)
                continue
            }
            try check(response, "PUT \(displayName)\(path)")
            if let rev = try? response.json("PUT")["rev"]?.stringValue { state.withLock { $0.checkpointRevs[id] = rev } }
            return
        }
    }

    package func changes(since: OpaqueSequence, limit: Int, filter: ChangesFilter?) async throws -> ChangesBatch {
        var query = [("style", "all_docs"), ("since", since.queryValue), ("limit", String(limit))]
        var body: [UInt8]?
        switch filter {
        case nil:
            break
        case .pull(.documentIDs(let ids))?:
            query.append(("filter", "_doc_ids"))
            body = Array(JSONValue.object(JSONObject([("doc_ids", .array(ids.map { .string($0) }))])).serialized.utf8)
        case .pull(.selector(let selector))?:
            query.append(("filter", "_selector"))
            body = Array(JSONValue.object(JSONObject([("selector", selector)])).serialized.utf8)
        case .pull(.channels(let channels))?:
            query.append(("filter", "sync_gateway/bychannel"))
            query.append(("channels", channels.joined(separator: ",")))
        case .push?:
            throw ReplicationError.configuration("push filters apply to the local store, not to \(displayName)")
        }
        let context = "\(body == nil ? "GET" : "POST") \(displayName)/_changes"
        let response = try await client.send(body == nil ? .GET : .POST, "/_changes", query: query, body: body)
        try check(response, context)
        return try Self.parseChanges(response.body, since: since, context: context)
    }

    static func parseChanges(_ body: [UInt8], since: OpaqueSequence, context: String) throws -> ChangesBatch {
        let value: JSONValue
        do { value = try JSONValue.parse(body) } catch {
            throw ReplicationError(.malformedResponse, "\(context): the server sent invalid JSON (\(error))")
        }
        guard let results = value["results"]?.arrayValue else {
            throw ReplicationError(.malformedResponse, "\(context): the response has no \"results\" array")
        }
        var rows: [ChangeRow] = []
        var lastRowSeq: JSONValue?
        for result in results {
            guard let id = result["id"]?.stringValue, let changes = result["changes"]?.arrayValue else {
                throw ReplicationError(.malformedResponse, "\(context): a row without \"id\" or \"changes\": \(result.serialized.prefix(200))")
            }
            if let seq = result["seq"], seq != .null { lastRowSeq = seq }
            // Sync Gateway: the user pseudo-document, and documents that left the user's channels.
            if id.hasPrefix("_user/") || result["removed"] != nil { continue }
            var revs: [RevisionID] = []
            for change in changes {
                guard let text = change["rev"]?.stringValue, let rev = try? RevisionID(parsing: text) else {
                    throw ReplicationError(.malformedResponse, "\(context): document \(id): invalid revision \(change.serialized.prefix(100))")
                }
                revs.append(rev)
            }
            rows.append(ChangeRow(id: id, revs: revs, deleted: result["deleted"]?.boolValue ?? false))
        }
        let lastSeq: OpaqueSequence
        if let last = value["last_seq"], last != .null {
            lastSeq = OpaqueSequence(last)
        } else if let lastRowSeq {
            lastSeq = OpaqueSequence(lastRowSeq)
        } else if results.isEmpty {
            lastSeq = since
        } else {
            throw ReplicationError(.malformedResponse, "\(context): the response has no \"last_seq\"")
        }
        return ChangesBatch(rows: rows, lastSeq: lastSeq, rowsBeforeFilter: results.count)
    }

    package func revsDiff(_ revisions: [(id: String, revs: [RevisionID])]) async throws -> [String: RevsDiffEntry] {
        guard !revisions.isEmpty else { return [:] }
        var body = "{"
        for (index, item) in revisions.enumerated() {
            if index > 0 { body += "," }
            JSONString.append(item.id, to: &body)
            body += ":[" + item.revs.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        }
        body += "}"
        let context = "POST \(displayName)/_revs_diff"
        let response = try await client.send(.POST, "/_revs_diff", body: Array(body.utf8))
        try check(response, context)
        guard let object = try response.json(context).objectValue else {
            throw ReplicationError(.malformedResponse, "\(context): expected a JSON object")
        }
        var result: [String: RevsDiffEntry] = [:]
        for (id, entry) in object.members {
            result[id] = RevsDiffEntry(missing: try Self.revisions(entry["missing"], context),
                                       possibleAncestors: try Self.revisions(entry["possible_ancestors"], context))
        }
        return result
    }

    static func revisions(_ value: JSONValue?, _ context: String) throws -> [RevisionID] {
        guard let value else { return [] }
        guard let array = value.arrayValue else {
            throw ReplicationError(.malformedResponse, "\(context): expected an array of revisions, got \(value.serialized.prefix(100))")
        }
        return try array.map { element in
            guard let text = element.stringValue, let rev = try? RevisionID(parsing: text) else {
                throw ReplicationError(.malformedResponse, "\(context): invalid revision \(element.serialized.prefix(100))")
            }
            return rev
        }
    }

    /// Fetches the revisions with attachment stubs, then the attachment data the target lacks
    /// (``AttachmentFetch``): small data inline with a second fetch of those documents, larger
    /// data to files, one request per attachment.
    package func fetch(_ requests: [RevisionRequest]) async throws -> [FetchedRevision] {
        let fetched = try await fetchRevisions(requests, attachmentData: false)
        return try await AttachmentFetch(peer: self).complete(fetched, requests: requests)
    }

    /// `_bulk_get`, or `open_revs` document by document where the server lacks it; with
    /// `attachmentData`, inline data for attachments changed since each request's `attsSince`.
    func fetchRevisions(_ requests: [RevisionRequest], attachmentData: Bool) async throws -> [FetchedRevision] {
        guard !requests.isEmpty else { return [] }
        if state.withLock({ $0.bulkGet }) {
            if let fetched = try await bulkGet(requests, attachmentData: attachmentData) { return fetched }
            state.withLock { $0.bulkGet = false }
            client.logger.info("the server has no JSON _bulk_get; fetching documents one by one", metadata: ["remote": "\(displayName)"])
        }
        var fetched: [FetchedRevision] = []
        for request in requests { fetched += try await openRevs(request, attachmentData: attachmentData) }
        return fetched
    }

    /// `POST _bulk_get`; nil when the server does not offer it (CouchDB 1.x, Sync Gateway's
    /// multipart-only endpoint).
    private func bulkGet(_ requests: [RevisionRequest], attachmentData: Bool) async throws -> [FetchedRevision]? {
        var body = "{\"docs\":["
        var first = true
        for request in requests {
            for rev in request.revs {
                if !first { body += "," }
                first = false
                body += "{\"id\":"
                JSONString.append(request.id, to: &body)
                body += ",\"rev\":\"\(rev)\""
                if !request.attsSince.isEmpty {
                    body += ",\"atts_since\":[" + request.attsSince.map { "\"\($0)\"" }.joined(separator: ",") + "]"
                }
                body += "}"
            }
        }
        body += "]}"
        let context = "POST \(displayName)/_bulk_get"
        let query = [("revs", "true"), ("latest", "true")] + (attachmentData ? [("attachments", "true")] : [])
        let response = try await client.send(.POST, "/_bulk_get", query: query, body: Array(body.utf8), documents: true)
        if [400, 404, 405, 406, 415, 501].contains(response.status), response.couchError?.reason != "Database does not exist." {
            return nil
        }
        try check(response, context)
        return try Self.parseBulkGet(response.body, context: context)
    }

    static func parseBulkGet(_ body: [UInt8], context: String) throws -> [FetchedRevision] {
        var fetched: [FetchedRevision] = []
        do {
            var reader = JSONReader(body)
            try reader.beginObject()
            while let key = try reader.nextKey() {
                guard key == "results" else { _ = try reader.skipValue(); continue }
                try reader.beginArray()
                while try reader.nextElement() {
                    try reader.beginObject()
                    var id: String?
                    while let resultKey = try reader.nextKey() {
                        switch resultKey {
                        case "id": id = try reader.readString()
                        case "docs":
                            try reader.beginArray()
                            while try reader.nextElement() {
                                try reader.beginObject()
                                while let docKey = try reader.nextKey() {
                                    if docKey == "ok" {
                                        // One bad document is skipped, not the response: its
                                        // extent is found by structure, its content checked apart.
                                        let range = try reader.skipValueStructurally()
                                        let problem = DocumentRules.problem(inDocument: body, range: range)
                                        // The result's "id" (sent before "docs" by CouchDB, PouchDB
                                        // and Sync Gateway) names the document; only without it is
                                        // the document itself scanned for its _id.
                                        guard let docID = try id ?? (problem == nil ? Self.documentID(in: body, range: range) : nil) else {
                                            throw ReplicationError(.malformedResponse, "\(context): a document without _id")
                                        }
                                        fetched.append(Self.fetched(docID, body, range, problem: problem))
                                    } else {
                                        _ = try reader.skipValue()  // {"error":…}: revision gone (e.g. compacted); skipped
                                    }
                                }
                            }
                        default: _ = try reader.skipValue()
                        }
                    }
                }
            }
            try reader.finish()
        } catch let error as JSONError {
            throw ReplicationError(.malformedResponse, "\(context): the server sent invalid JSON (\(error))")
        }
        return fetched
    }

    /// The document in `body[range]`, or its refusal when it is not valid JSON (`problem`).
    static func fetched(_ id: String, _ body: [UInt8], _ range: Range<Int>, problem: String?) -> FetchedRevision {
        guard let problem else { return FetchedRevision(id: id, json: Array(body[range])) }
        return .refused(id: id, rev: nil, reason: "the server sent a document that is \(problem)")
    }

    static func documentID(in body: [UInt8], range: Range<Int>) throws -> String? {
        for member in try RawJSONObject.members(ofObject: body, in: range) where member.key == "_id" {
            return try JSONValue.parse(Array(body[member.valueRange])).stringValue
        }
        return nil
    }

    /// `GET /db/id?open_revs=[…]&revs=true&latest=true`, in chunks that keep URLs short.
    private func openRevs(_ request: RevisionRequest, attachmentData: Bool) async throws -> [FetchedRevision] {
        var fetched: [FetchedRevision] = []
        var chunk: [RevisionID] = []
        var length = 0
        func flush() async throws {
            guard !chunk.isEmpty else { return }
            var query = [("open_revs", "[" + chunk.map { "\"\($0)\"" }.joined(separator: ",") + "]"),
                         ("revs", "true"), ("latest", "true")]
            if attachmentData { query.append(("attachments", "true")) }
            if attachmentData, !request.attsSince.isEmpty {
                query.append(("atts_since", "[" + request.attsSince.map { "\"\($0)\"" }.joined(separator: ",") + "]"))
            }
            let path = CouchClient.documentPath(request.id)
            let context = "GET \(displayName)\(path)?open_revs"
            let response = try await client.send(.GET, path, query: query, documents: true)
            if response.status == 404 { chunk = []; return }
            try check(response, context)
            fetched += try Self.parseOpenRevs(response.body, id: request.id, context: context)
            chunk = []
            length = 0
        }
        for rev in request.revs {
            let size = rev.description.utf8.count * 3 + 10
            if length + size > 5000 { try await flush() }
            chunk.append(rev)
            length += size
        }
        try await flush()
        return fetched
    }

    static func parseOpenRevs(_ body: [UInt8], id: String, context: String) throws -> [FetchedRevision] {
        var fetched: [FetchedRevision] = []
        do {
            var reader = JSONReader(body)
            try reader.beginArray()
            while try reader.nextElement() {
                try reader.beginObject()
                while let key = try reader.nextKey() {
                    guard key == "ok" else {
                        try reader.skipValue()
                        continue
                    }
                    let range = try reader.skipValueStructurally()
                    fetched.append(Self.fetched(id, body, range, problem: DocumentRules.problem(inDocument: body, range: range)))
                }
            }
            try reader.finish()
        } catch {
            throw ReplicationError(.malformedResponse, "\(context): the server sent invalid JSON (\(error))")
        }
        return fetched
    }

    package func write(_ revisions: consuming [FetchedRevision], checkpoint: (id: String, body: JSONValue)?) async throws -> WriteResult {
        var result = WriteResult(written: 0, failures: [])
        let revisions = revisions
        let withFiles = revisions.filter { !$0.spooled.isEmpty }
        let inline = withFiles.isEmpty ? revisions : revisions.filter { $0.spooled.isEmpty }
        if !inline.isEmpty { try await bulkDocs(inline[...], into: &result) }
        for revision in withFiles { try await putMultipart(revision, into: &result) }
        if let checkpoint { try await writeCheckpoint(id: checkpoint.id, body: checkpoint.body) }
        return result
    }

    /// `PUT /db/id?new_edits=false` as `multipart/related`, the attachment data streamed from
    /// its files (as CouchDB's replicator sends documents with attachments). A refusal of the
    /// document is counted as `_bulk_docs` would list it.
    private func putMultipart(_ revision: FetchedRevision, into result: inout WriteResult) async throws {
        let body: MultipartRelated
        do {
            body = try Self.multipart(revision)
        } catch {
            result.failures.append(WriteFailure(id: revision.id, rev: nil, error: "bad_request", reason: "\(error)"))
            return
        }
        let path = CouchClient.documentPath(revision.id)
        let response = try await client.upload(.PUT, path, query: [("new_edits", "false")], body: body)
        switch response.status {
        case 200...299:
            result.written += 1
        case 412 where response.couchError?.error == "missing_stub":
            throw MissingStubs(ids: [revision.id])
        case 400, 403, 413, 415:
            let error = response.couchError ?? (response.status == 413 ? ("too_large", "the document is larger than the server accepts") : ("HTTP \(response.status)", ""))
            result.failures.append(WriteFailure(id: revision.id, rev: nil, error: client.scrub(error.error), reason: client.scrub(error.reason)))
        default:
            try check(response, "PUT \(displayName)\(path)?new_edits=false")
        }
    }

    /// The revision as a `multipart/related` body: its JSON with the `_attachments` entries of
    /// its spooled data saying `"follows": true` without a digest (a stub fetched apart says
    /// `"stub": true`), the rest of the document byte for byte as it was, then that data in
    /// the order of the entries, the order in which CouchDB takes the parts.
    static func multipart(_ revision: FetchedRevision) throws -> MultipartRelated {
        let json = revision.json
        guard let member = try RawJSONObject.members(ofObject: json).first(where: { $0.key == "_attachments" }),
              var attachments = try JSONValue.parse(Array(json[member.valueRange])).objectValue
        else { throw ReplicationError(.malformedResponse, "the document has no _attachments for its attachment data") }
        var parts: [MultipartRelated.Attachment] = []
        for (name, value) in attachments.members {
            guard let file = revision.spooled[name], var entry = value.objectValue else { continue }
            _ = entry.removeValue(forKey: "stub")
            _ = entry.removeValue(forKey: "data")
            // CouchDB checks a digest sent with streamed data against the MD5 of the bytes as
            // sent, and answers 500 (function_clause, CouchDB 3.4.3) when a type it stores
            // gzipped carries the digest of its gzipped form, as one pulled from CouchDB does.
            // Without one it computes its own: the same digest for the same data.
            _ = entry.removeValue(forKey: "digest")
            entry.set("follows", .bool(true))
            attachments.set(name, .object(entry))
            parts.append(MultipartRelated.Attachment(name: name, contentType: entry["content_type"]?.stringValue ?? "application/octet-stream", file: file))
        }
        if let missing = revision.spooled.keys.first(where: { attachments[$0]?.objectValue == nil }) {
            throw ReplicationError(.malformedResponse, "_attachments has no entry \(missing) for its data")
        }
        let announced = Array(json[..<member.valueRange.lowerBound]) + Array(JSONValue.object(attachments).serialized.utf8)
            + Array(json[member.valueRange.upperBound...])
        return MultipartRelated(json: announced, attachments: parts)
    }

    /// `POST _bulk_docs` with `new_edits: false`; splits the batch on 413.
    private func bulkDocs(_ revisions: ArraySlice<FetchedRevision>, into result: inout WriteResult) async throws {
        // Written once, into the buffer that is sent.
        let head = "{\"new_edits\":false,\"docs\":["
        var body = ByteBuffer()
        body.reserveCapacity(revisions.reduce(head.utf8.count + 2) { $0 + $1.json.count + 1 })
        body.writeString(head)
        for (index, revision) in revisions.enumerated() {
            if index > 0 { body.writeInteger(UInt8(ascii: ",")) }
            body.writeBytes(revision.json)
        }
        body.writeString("]}")
        let context = "POST \(displayName)/_bulk_docs"
        let response = try await client.send(.POST, "/_bulk_docs", buffer: body)
        switch response.status {
        case 413:
            guard revisions.count > 1 else {
                let id = revisions.first?.id ?? "?"
                result.failures.append(WriteFailure(id: id, rev: nil, error: "too_large", reason: "the document is larger than the server accepts"))
                return
            }
            let middle = revisions.startIndex + revisions.count / 2
            try await bulkDocs(revisions[revisions.startIndex..<middle], into: &result)
            try await bulkDocs(revisions[middle...], into: &result)
            return
        case 412 where response.couchError?.error == "missing_stub":
            throw MissingStubs(ids: Set(revisions.map(\.id)))
        default:
            try check(response, context)
        }
        guard let items = try response.json(context).arrayValue else {
            throw ReplicationError(.malformedResponse, "\(context): expected a JSON array")
        }
        var failed = 0
        for item in items {
            guard let error = item["error"]?.stringValue else { continue }
            failed += 1
            result.failures.append(WriteFailure(id: item["id"]?.stringValue ?? "?", rev: item["rev"]?.stringValue,
                                                error: client.scrub(error), reason: client.scrub(item["reason"]?.stringValue ?? "")))
        }
        result.written += revisions.count - failed
    }
}
