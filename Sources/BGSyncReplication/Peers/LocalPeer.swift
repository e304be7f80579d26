import BGSyncStore

/// A local bgsync store as a replication peer: the local side of every run, or the remote side
/// when the remote is another store file (`file:/path`).
public struct LocalPeer: ReplicationPeer {
    /// The store (writes, and reads unless `reader` is another connection).
    public let store: DocumentStore
    /// Where the feed, `revs_diff`, fetches and checkpoints are read: a second connection lets
    /// them run while a batch is being written through `store`.
    let reader: DocumentStore

    /// Wraps an open store; `reader` is a second connection to it for reads
    /// (``DocumentStore/concurrentReader()``), or the store itself.
    public init(store: DocumentStore, reader: DocumentStore? = nil) {
        self.store = store
        self.reader = reader ?? store
    }

    /// Opens (creating if needed) the store at `path` with a second connection for reads.
    /// - Throws: ``ReplicationError`` (`localStore`) naming the file.
    public init(openingAt path: String) throws {
        do {
            let store = try DocumentStore.open(at: path)
            self.init(store: store, reader: try store.concurrentReader())
        } catch let error as StoreError {
            throw ReplicationError.localStore(error)
        }
    }

    public var displayName: String { "file:" + store.path }

    /// A batch and its checkpoint are one transaction.
    public var checkpointsWithWrites: Bool { true }

    public func open() async throws -> String {
        "bgsync-store:" + (try local(reader) { try $0.read { try $0.uuid() } })
    }

    public func readCheckpoint(id: String) async throws -> JSONValue? {
        try local(reader) {
            try $0.read { tx in try tx.localDocument("_local/" + id).map { try JSONValue.parse($0) } }
        }
    }

    public func writeCheckpoint(id: String, body: JSONValue) async throws {
        try local(store) { _ = try $0.write { try $0.putLocal(id: "_local/" + id, json: body.serialized) } }
    }

    public func changes(since: OpaqueSequence, limit: Int, filter: ChangesFilter?) async throws -> ChangesBatch {
        guard let start = Int(since.queryValue), start >= 0 else {
            throw ReplicationError(.malformedResponse, "\(displayName): sequence \(since) is not one of this store's sequences; delete the checkpoint to start over")
        }
        return try local(reader) {
            try $0.read { tx in
                let changes = try tx.changes(since: start, limit: limit)
                let lastSeq = changes.last.map { OpaqueSequence(json: String($0.seq)) } ?? since
                var rows = changes.map { ChangeRow(id: $0.id, revs: $0.leaves, deleted: $0.deleted) }
                switch filter {
                case nil:
                    break
                case .push(.documentIDs(let ids))?, .pull(.documentIDs(let ids))?:
                    let wanted = Set(ids)
                    rows.removeAll { !wanted.contains($0.id) }
                case .push(.sqlWhere(let expression))?:
                    let live = rows.filter { !$0.deleted }.map(\.id)
                    let matching = try tx.documentIDs(among: live, matching: expression)
                    rows.removeAll { !$0.deleted && !matching.contains($0.id) }
                case .pull(let other)?:
                    throw ReplicationError.configuration("\(displayName): the filter \(other) needs a CouchDB server; a local store supports doc ids only")
                }
                return ChangesBatch(rows: rows, lastSeq: lastSeq, rowsBeforeFilter: changes.count)
            }
        }
    }

    public func revsDiff(_ revisions: [(id: String, revs: [RevisionID])]) async throws -> [String: RevsDiffEntry] {
        try local(reader) { store in
            try store.read { tx in
                Dictionary(try tx.revsDiff(revisions).map { ($0.id, $0.entry) }, uniquingKeysWith: { a, _ in a })
            }
        }
    }

    public func fetch(_ requests: [RevisionRequest]) async throws -> [FetchedRevision] {
        try local(reader) { store in
            try store.read { tx in
                var fetched: [FetchedRevision] = []
                for request in requests {
                    let mode: AttachmentMode = .since(request.attsSince)
                    for result in try tx.openRevisions(request.id, revs: request.revs, latest: true, attachments: mode) {
                        if case .ok(let json) = result {
                            fetched.append(FetchedRevision(id: request.id, json: Array(json.utf8)))
                        }
                    }
                }
                return fetched
            }
        }
    }

    public func write(_ revisions: [FetchedRevision], checkpoint: (id: String, body: JSONValue)?) async throws -> WriteResult {
        var parsed: [IncomingDocument] = []
        parsed.reserveCapacity(revisions.count)
        for revision in revisions {
            do {
                parsed.append(try IncomingDocument(json: revision.json))
            } catch let error as StoreError {
                throw ReplicationError(.malformedResponse, "document \"\(revision.id)\" from the source is not acceptable: \(error.message)")
            }
        }
        return try local(store) { store in
            try store.write { tx in
                var missingStubs = Set<String>()
                var conflicts = 0
                for (index, document) in parsed.enumerated() {
                    do {
                        if try tx.saveReplicated(document, id: revisions[index].id).createdConflict { conflicts += 1 }
                    } catch let error as StoreError where error.code == .missingStub {
                        missingStubs.insert(revisions[index].id)
                    } catch let error as StoreError where error.code == .invalidDocument || error.code == .invalidRevision {
                        throw ReplicationError(.malformedResponse, "document \"\(revisions[index].id)\" from the source is not acceptable: \(error.message)")
                    }
                }
                if !missingStubs.isEmpty { throw MissingStubs(ids: missingStubs) }
                if let checkpoint {
                    try tx.putLocal(id: "_local/" + checkpoint.id, json: checkpoint.body.serialized)
                }
                return WriteResult(written: parsed.count, failures: [], conflictsCreated: conflicts)
            }
        }
    }

    /// Runs work on `store` (this peer's writer or reader), turning store errors into
    /// replication errors.
    func local<T>(_ store: DocumentStore, _ body: (DocumentStore) throws -> T) throws -> T {
        do {
            return try body(store)
        } catch let error as StoreError {
            throw ReplicationError.localStore(error)
        }
    }
}
