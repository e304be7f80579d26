import BGSyncStore
import Foundation

/// A local bgsync store as a replication peer: the local side of every run, or the remote side
/// when the remote is another store file (`file:/path`).
package struct LocalPeer: ReplicationPeer {
    /// The store (writes, and reads unless `reader` is another connection).
    package let store: DocumentStore
    /// Where the feed, `revs_diff`, fetches and checkpoints are read: a second connection lets
    /// them run while a batch is being written through `store`.
    let reader: DocumentStore
    /// How much attachment data a batch fetched from this store spools out of it at once; the
    /// rest just before each document is written (``FetchedRevision/deferredData``).
    package var spoolBytesPerBatch = ReplicatorConfiguration.defaultSpoolBytesPerBatch

    /// Wraps an open store; `reader` is a second connection to it for reads
    /// (``DocumentStore/concurrentReader()``), or the store itself.
    package init(store: DocumentStore, reader: DocumentStore? = nil) {
        self.store = store
        self.reader = reader ?? store
    }

    /// Opens the store at `path` with a second connection for reads; a missing file is
    /// created only when `create` is true.
    /// - Throws: ``ReplicationError`` `missingDatabase` naming a missing file that was not to be
    ///   created, `localStore` for any other failure.
    package init(openingAt path: String, create: Bool = true) throws {
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw ReplicationError(.missingDatabase, "\(path): no such database file (bgsync creates it only when asked: create_target = true, or sync --create-target)")
        }
        do {
            let store = try DocumentStore.open(at: path, mode: create ? .readWriteCreate : .readWrite)
            self.init(store: store, reader: try store.concurrentReader())
            SpoolFile.removeAbandoned(in: spoolDirectory)
        } catch let error as StoreError {
            throw ReplicationError.localStore(error)
        }
    }

    package var displayName: String { "file:" + store.path }

    /// Where attachment data too big to hold in memory waits on its way in or out: beside the
    /// store (the same file system, and not a `tmpfs` that would hold it in memory).
    package var spoolDirectory: String {
        let directory = (store.path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }

    /// A batch and its checkpoint are one transaction.
    package var checkpointsWithWrites: Bool { true }

    /// Leaves the file whole: the write-ahead log is checkpointed into it and emptied. (The
    /// last connection to close would do that, but when it is the read-only reader it cannot,
    /// and every run would leave a `-wal` file that a copy of the database alone misses.)
    package func shutdown() async {
        try? store.checkpointLog()
    }

    package func open() async throws -> String {
        "bgsync-store:" + (try local(reader) { try $0.read { try $0.uuid() } })
    }

    package func readCheckpoint(id: String) async throws -> JSONValue? {
        try local(reader) {
            try $0.read { tx in try tx.localDocument("_local/" + id).map { try JSONValue.parse($0) } }
        }
    }

    package func writeCheckpoint(id: String, body: JSONValue) async throws {
        try local(store) { _ = try $0.write { try $0.putLocal(id: "_local/" + id, json: body.serialized) } }
    }

    package func changes(since: OpaqueSequence, limit: Int, filter: ChangesFilter?) async throws -> ChangesBatch {
        guard let start = Int(since.queryValue), start >= 0 else {
            throw ReplicationError(.malformedResponse, "\(displayName): sequence \(since) is not one of this store's sequences; delete the checkpoint to start over")
        }
        return try local(reader) {
            try $0.read { tx in
                let changes = try tx.changes(since: start, limit: limit)
                let lastSeq = changes.last.map { OpaqueSequence(json: String($0.seq)) } ?? since
                var rows = changes.map { ChangeRow(id: $0.id, revs: $0.leaves, deleted: $0.deleted, localSeq: $0.seq) }
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

    package func revsDiff(_ revisions: [(id: String, revs: [RevisionID])]) async throws -> [String: RevsDiffEntry] {
        try local(reader) { store in
            try store.read { tx in
                Dictionary(try tx.revsDiff(revisions).map { ($0.id, $0.entry) }, uniquingKeysWith: { a, _ in a })
            }
        }
    }

    package func fetch(_ requests: [RevisionRequest]) async throws -> [FetchedRevision] {
        try local(reader) { store in
            try store.read { tx in
                var fetched: [FetchedRevision] = []
                var budget = SpoolBudget(limit: spoolBytesPerBatch)
                for request in requests {
                    let mode: AttachmentMode = .since(request.attsSince)
                    for result in try tx.openRevisions(request.id, revs: request.revs, latest: true, attachments: mode,
                                                       inlineLimit: FetchedRevision.inlineAttachmentLimit) {
                        switch result {
                        case .ok(let json):
                            fetched.append(FetchedRevision(id: request.id, json: Array(json.utf8)))
                        case .okFollowing(let json, let following):
                            let revision = FetchedRevision(id: request.id, json: Array(json.utf8))
                            if budget.admit(following.reduce(0) { $0 + $1.length }) {
                                switch try Self.spoolFollowing(revision, following, tx, spoolDirectory: spoolDirectory) {
                                case .spooled(let spooled): fetched.append(spooled)
                                case .missing(let attachment): throw StoreError.missingAttachmentData(store.path, attachment, documentID: request.id)
                                }
                            } else {
                                var deferred = revision
                                let peer = self
                                deferred.deferredData = { try peer.spoolFollowing(revision, following) }
                                fetched.append(deferred)
                            }
                        case .invalid(let rev, let reason):
                            fetched.append(.refused(id: request.id, rev: rev.description, reason: "the source's stored revision is not a valid document: \(reason)"))
                        case .missing:
                            break
                        }
                    }
                }
                return fetched
            }
        }
    }

    /// `revision` with the data of its `following` attachments spooled out of the store, read
    /// now (for ``FetchedRevision/deferredData``); nil when the revision is no longer a leaf
    /// of the store (the document changed meanwhile and its data went with the old revision:
    /// the newer revision comes with a later change).
    func spoolFollowing(_ revision: FetchedRevision, _ following: [StoredAttachment]) throws -> FetchedRevision? {
        try local(reader) { store in
            try store.read { tx in
                let missing: StoredAttachment
                switch try Self.spoolFollowing(revision, following, tx, spoolDirectory: spoolDirectory) {
                case .spooled(let spooled): return spooled
                case .missing(let attachment): missing = attachment
                }
                let rev = AttachmentFetch.revision(of: revision)
                guard let rev, try tx.tree(of: revision.id)?.leaves.contains(where: { $0.rev == rev }) == true else { return nil }
                throw StoreError.missingAttachmentData(store.path, missing, documentID: revision.id)
            }
        }
    }

    /// `revision` with the data of its `following` attachments spooled to files, or the first
    /// attachment whose data the store lacks.
    static func spoolFollowing(_ revision: FetchedRevision, _ following: [StoredAttachment], _ tx: StoreReader,
                               spoolDirectory: String) throws -> SpoolOutcome {
        var revision = revision
        for attachment in following {
            guard let file = try tx.spoolAttachment(digest: attachment.digest, in: spoolDirectory) else { return .missing(attachment) }
            revision.spooled[attachment.name] = file
        }
        return .spooled(revision)
    }

    /// What ``spoolFollowing(_:_:_:spoolDirectory:)`` did.
    enum SpoolOutcome {
        case spooled(FetchedRevision)
        case missing(StoredAttachment)
    }

    /// Stores what it can: a revision that is not an acceptable document (bad JSON, a bad
    /// `_revisions`, a body over the limits) is refused on its own, listed in the result's
    /// failures, and the rest of the batch is written.
    package func write(_ revisions: consuming [FetchedRevision], checkpoint: (id: String, body: JSONValue)?) async throws -> WriteResult {
        try await write(revisions, checkpoint: checkpoint, sourceLeaves: nil).result
    }

    /// ``write(_:checkpoint:)``, and when `sourceLeaves` (the revisions the source's changes
    /// feed listed, by document id) is given, the sequences this write leaves holding only
    /// revisions the source listed: those of the documents whose leaves are all among the
    /// source's, and those the write used up that are no document's latest (see
    /// ``RemoteHoldings``). Worked out in the write's transaction, so nothing else wrote
    /// in between.
    package func write(_ revisions: consuming [FetchedRevision], checkpoint: (id: String, body: JSONValue)?,
                       sourceLeaves: [String: Set<RevisionID>]?) async throws -> (result: WriteResult, held: [ClosedRange<Int>]) {
        var parsed: [(id: String, document: IncomingDocument)] = []
        var failures: [WriteFailure] = []
        parsed.reserveCapacity(revisions.count)
        for index in revisions.indices {
            let revision = revisions[index]
            if let refusal = revision.refusal {
                failures.append(refusal)
                continue
            }
            // Parsed, the JSON is not needed any more: freed now, a large document is not held
            // as its JSON and its body at once (when the caller gave up its copy, as the
            // replicator does).
            revisions[index].json = []
            do {
                var document = try IncomingDocument(json: revision.json)
                if !revision.spooled.isEmpty { document.attachSpooledData(revision.spooled) }
                parsed.append((revision.id, document))
            } catch let error as StoreError {
                failures.append(Self.refusal(revision.id, rev: nil, error))
            }
        }
        return try local(store) { store in
            try store.write { tx in
                let seqBefore = sourceLeaves == nil ? 0 : try tx.reader.updateSeq()
                var missingStubs = Set<String>()
                var conflicts = 0
                var written = 0
                for (id, document) in parsed {
                    do {
                        if try tx.saveReplicated(document, id: id).createdConflict { conflicts += 1 }
                        written += 1
                    } catch let error as StoreError where error.code == .missingStub {
                        missingStubs.insert(id)
                    } catch let error as StoreError where error.code == .invalidDocument || error.code == .invalidRevision {
                        failures.append(Self.refusal(id, rev: document.rev?.description, error))
                    }
                }
                if !missingStubs.isEmpty { throw MissingStubs(ids: missingStubs) }
                if let checkpoint {
                    try tx.putLocal(id: "_local/" + checkpoint.id, json: checkpoint.body.serialized)
                }
                let result = WriteResult(written: written, failures: failures, conflictsCreated: conflicts)
                guard let sourceLeaves else { return (result, []) }
                return (result, try Self.heldSequences(tx.reader, after: seqBefore, sourceLeaves: sourceLeaves))
            }
        }
    }

    /// The sequences after `seqBefore` (used by the current transaction) whose document's
    /// leaves are all in `sourceLeaves`, with those that are no document's latest, as ranges.
    static func heldSequences(_ reader: StoreReader, after seqBefore: Int,
                              sourceLeaves: [String: Set<RevisionID>]) throws -> [ClosedRange<Int>] {
        let seqAfter = try reader.updateSeq()
        guard seqAfter > seqBefore else { return [] }
        var held: [ClosedRange<Int>] = []
        var start = seqBefore + 1
        for change in try reader.changes(since: seqBefore) {
            if let listed = sourceLeaves[change.id], change.leaves.allSatisfy(listed.contains) { continue }
            if start < change.seq { held.append(start...(change.seq - 1)) }
            start = change.seq + 1
        }
        if start <= seqAfter { held.append(start...seqAfter) }
        return held
    }

    /// A revision this store will not take, as `_bulk_docs` would list it.
    static func refusal(_ id: String, rev: String?, _ error: StoreError) -> WriteFailure {
        WriteFailure(id: id, rev: rev, error: error.couchError, reason: error.message)
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
