import BGSyncStore
import Foundation
import Logging

/// Runs one one-shot replication: a full pull (remote → local) and/or a full push
/// (local → remote), following the CouchDB replication protocol.
///
/// ```swift
/// var configuration = ReplicatorConfiguration(database: "notes.sqlite",
///                                             remote: try Endpoint(parsing: "https://couch.example.com/notes"))
/// configuration.http.auth = .session(user: "alice", password: secret)
/// let result = try await Replicator(configuration: configuration).run()
/// ```
public struct Replicator: Sendable {
    /// What to replicate.
    public var configuration: ReplicatorConfiguration
    /// Where the replicator logs (retries, fallbacks); the application decides the output.
    public var logger: Logger
    /// Called with live counters after each step.
    public var progress: (@Sendable (ReplicationProgress) -> Void)?
    /// Asked at every batch boundary; when it returns true the run checkpoints and stops with
    /// ``ReplicationError/Kind/interrupted``.
    public var shouldStop: @Sendable () -> Bool = { false }
    /// Reads the feeds and asks the target what it lacks, but fetches, writes and checkpoints
    /// nothing: `missingFound` tells what a real run would transfer. Local stores are opened
    /// read-only, and a missing one is not created (it counts as empty).
    public var dryRun = false
    /// How often the source's checkpoint is written during a direction (it is always written
    /// when the direction ends or stops). CouchDB's replicator uses 5 seconds too.
    package var checkpointInterval: Duration = .seconds(5)

    /// Creates a replicator.
    public init(configuration: ReplicatorConfiguration, logger: Logger = Logger(label: "bgsync.replication")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Pulls to completion, then pushes to completion (as configured).
    public func run() async throws -> SyncResult {
        guard configuration.batchSize > 0 else {
            throw ReplicationError.configuration("batch size must be at least 1 (got \(configuration.batchSize))")
        }
        // Nothing is created by accident: the local database only for a pull (a job's first
        // run), a file remote only when asked.
        var local = try openLocal(configuration.database, create: configuration.direction != .push || configuration.createTarget)
        local.spoolBytesPerBatch = configuration.spoolBytesPerBatch
        let remote: any ReplicationPeer
        switch configuration.remote {
        case .http(let url):
            remote = try HTTPPeer(url: url, options: configuration.http, logger: logger, spoolDirectory: local.spoolDirectory,
                                  spoolBytesPerBatch: configuration.spoolBytesPerBatch)
        case .file(let path):
            var file = try openLocal(path, create: configuration.createTarget)
            file.spoolBytesPerBatch = configuration.spoolBytesPerBatch
            remote = file
        }
        return try await run(local: local, remote: remote)
    }

    /// Pulls from `remote` into `local`, resolves conflicts, then pushes (as configured);
    /// ``run()`` with the peers given.
    func run(local: LocalPeer, remote: any ReplicationPeer) async throws -> SyncResult {
        var result = SyncResult(pull: nil, push: nil, httpRequests: 0)
        // What the pull shows the remote holds spares the push from asking again.
        let holdings = configuration.direction == .pullAndPush && !dryRun ? RemoteHoldings() : nil
        func finish() async {
            await remote.shutdown()
            await local.shutdown()
        }
        func recordTraffic() {
            let traffic = remote.traffic
            result.httpRequests = traffic.requests
            result.httpBytesReceived = traffic.bytesReceived
            result.httpBytesSent = traffic.bytesSent
        }
        do {
            if configuration.direction != .push {
                result.pull = try await replicate(.pull, local: local, remote: remote, filter: configuration.pullFilter.map { .pull($0) },
                                                  holdings: holdings)
            }
            if let resolver = configuration.conflictResolver, !dryRun {
                result.conflicts = try await ConflictStep(resolver: resolver, logger: logger, shouldStop: shouldStop)
                    .run(local: local, remote: remote)
            }
            if configuration.direction != .pull {
                result.push = try await replicate(.push, local: local, remote: remote, filter: configuration.pushFilter.map { .push($0) },
                                                  holdings: holdings)
            }
            recordTraffic()
            await finish()
            return result
        } catch var error as ReplicationError {
            await finish()
            if result.pull != nil {
                recordTraffic()
                error.partialResult = result
            }
            throw remote.scrubbed(error)
        } catch where Task.isCancelled {
            // Stopped before or between directions' own handling (opening, checkpoints).
            await finish()
            var error = ReplicationError(.interrupted, "stopped while a request was in flight")
            if result.pull != nil { error.partialResult = result }
            throw error
        } catch {
            await finish()
            throw error
        }
    }

    /// Opens a local store as a peer, creating it only when `create`; in a dry run read-only,
    /// a missing one that a real run would create counting as empty.
    /// - Throws: ``ReplicationError`` `missingDatabase` when it is missing and not to be created.
    private func openLocal(_ path: String, create: Bool) throws -> LocalPeer {
        guard dryRun, create || FileManager.default.fileExists(atPath: path) else {
            return try LocalPeer(openingAt: path, create: create)
        }
        return try LocalPeer(inspectingAt: path)
    }

    /// One batch read from the source: its changes, what the target lacks, and the revisions
    /// fetched (none in a dry run).
    struct SourceBatch: Sendable {
        var batch: ChangesBatch
        var requests: [RevisionRequest]
        var fetched: [FetchedRevision]
        var missingChecked: Int
        var missingFound: Int
        /// Rows not asked about: the target holds them (``RemoteHoldings``).
        var skipped = 0

        /// The bytes of the fetched documents, their spooled attachment data included: what
        /// holding this batch costs (in memory, or on disk beside the store). A batch with big
        /// attachments is therefore not read ahead of another.
        var fetchedBytes: Int {
            fetched.reduce(0) { total, revision in
                total + revision.json.count + revision.spooledBytes
            }
        }
    }

    /// Reads one batch of changes after `since`.
    func readChanges(from source: any ReplicationPeer, since: OpaqueSequence, filter: ChangesFilter?) async throws -> ChangesBatch {
        let batch = try await source.changes(since: since, limit: configuration.batchSize, filter: filter)
        if batch.rowsBeforeFilter >= configuration.batchSize && batch.lastSeq == since {
            // A full batch that ends where it started would be asked for again, forever.
            throw ReplicationError(.malformedResponse, "the changes feed of \(source.displayName) does not advance: \(batch.rowsBeforeFilter) changes after \(since) end at \(since)")
        }
        return batch
    }

    /// What `_revs_diff` answers for a target that has nothing: every revision missing, no
    /// possible ancestors.
    static func allMissing(_ batch: ChangesBatch) -> [String: RevsDiffEntry] {
        var diff: [String: RevsDiffEntry] = [:]
        for row in batch.rows { diff[row.id, default: RevsDiffEntry(missing: [], possibleAncestors: [])].missing += row.revs }
        return diff
    }

    /// Asks the target what it lacks of `batch` (nothing to ask a target that was empty, nor
    /// about the rows whose local sequence is in `held`, see ``RemoteHoldings``) and fetches
    /// that from the source.
    func fetchMissing(_ batch: ChangesBatch, from source: any ReplicationPeer, to target: any ReplicationPeer,
                      skipping held: SequenceRanges? = nil) async throws -> SourceBatch {
        var read = SourceBatch(batch: batch, requests: [], fetched: [], missingChecked: 0, missingFound: 0)
        guard !batch.rows.isEmpty else { return read }
        read.missingChecked = batch.rows.reduce(0) { $0 + $1.revs.count }
        var asked = batch
        if let held { asked.rows.removeAll { $0.localSeq.map(held.contains) ?? false } }
        read.skipped = batch.rows.count - asked.rows.count
        guard !asked.rows.isEmpty else { return read }
        let diff = target.wasEmptyAtOpen ? Self.allMissing(asked) : try await target.revsDiff(asked.rows.map { ($0.id, $0.revs) })
        read.requests = asked.rows.compactMap { row -> RevisionRequest? in
            guard let entry = diff[row.id], !entry.missing.isEmpty else { return nil }
            return RevisionRequest(id: row.id, revs: entry.missing, attsSince: entry.possibleAncestors)
        }
        read.missingFound = read.requests.reduce(0) { $0 + $1.revs.count }
        if !dryRun && !read.requests.isEmpty {
            read.fetched = try await source.fetch(read.requests)
        }
        return read
    }

    /// One direction, source → target, batch by batch. Reading the batches after N from the
    /// source (the changes feed, `_revs_diff`, `_bulk_get`; ``ReadAhead``) overlaps writing batch
    /// N to the target, so the two sides work at the same time; at most
    /// ``ReplicatorConfiguration/readAhead`` + 1 batches are held in memory.
    ///
    /// Checkpoints: a local target stores its checkpoint with every batch, in the batch's
    /// transaction; a server target, and the source, at most every ``checkpointInterval`` and
    /// when the direction ends or stops, as CouchDB's replicator does (each is an extra
    /// request). A checkpoint that lags behind only makes the next run read again changes the
    /// target already has; it never skips any, since it is written after what it covers.
    ///
    /// `holdings`, in a run that pulls then pushes, is filled by the pull and spares the push
    /// from asking the remote about what the pull showed it holds.
    func replicate(_ direction: ReplicatorConfiguration.Direction, local: LocalPeer, remote: any ReplicationPeer,
                   filter: ChangesFilter?, holdings: RemoteHoldings? = nil) async throws -> DirectionResult {
        let (source, target): (any ReplicationPeer, any ReplicationPeer) = direction == .push ? (local, remote) : (remote, local)
        let sourceID = try await source.open()
        let targetID = try await target.open()
        let (localID, remoteID) = direction == .push ? (sourceID, targetID) : (targetID, sourceID)
        let replicationID = Checkpoint.replicationID(local: localID, remote: remoteID, direction: direction.rawValue, filter: filter)
        let sourceCheckpoint = try await source.readCheckpoint(id: replicationID)
        let targetCheckpoint = sourceCheckpoint == nil ? nil : try await target.readCheckpoint(id: replicationID)
        let (startSeq, history) = Checkpoint.startPoint(source: sourceCheckpoint, target: targetCheckpoint)
        if direction == .pull { holdings?.remoteOpened(marker: remote.revisionLossMarker) }
        let held = direction == .push ? try await holdings?.confirm(on: remote) : nil
        if direction == .push, !dryRun {
            if let limit = configuration.maxDelete {
                try await DeletionGuard(limit: limit, logger: logger).check(local: local, remote: remote, since: startSeq, filter: filter)
            } else {
                DeletionGuard.reportLifted(local: local, since: startSeq, logger: logger)
            }
        }
        let sessionID = MD5.hex(MD5.digest(Array(UUID().uuidString.utf8)))
        let startTime = Date()
        var stats = DirectionResult(direction: direction)
        stats.startSeq = startSeq
        stats.lastSeq = startSeq
        logger.debug("replicating", metadata: ["direction": "\(direction)", "id": "\(replicationID)", "since": "\(startSeq)"])

        var sourceCheckpointed = (seq: startSeq, at: ContinuousClock.now)
        /// The checkpoint last written on the target: the source gets the same document when
        /// it covers the same sequence, as CouchDB's replicator writes one to both.
        var lastTargetCheckpoint: (seq: OpaqueSequence, body: JSONValue)?
        func checkpointBody(_ stats: DirectionResult) -> JSONValue {
            Checkpoint.body(sessionID: sessionID, startTime: startTime, startSeq: startSeq,
                            lastSeq: stats.lastSeq, stats: stats, previousHistory: history)
        }
        /// Writes the source's checkpoint when it lags behind (always when `force`).
        func checkpointSource(force: Bool) async {
            guard !dryRun, stats.lastSeq != sourceCheckpointed.seq,
                  force || ContinuousClock.now - sourceCheckpointed.at >= checkpointInterval else { return }
            let checkpoint = lastTargetCheckpoint.flatMap { $0.seq == stats.lastSeq ? $0.body : nil } ?? checkpointBody(stats)
            do {
                try await source.writeCheckpoint(id: replicationID, body: checkpoint)
                sourceCheckpointed = (stats.lastSeq, ContinuousClock.now)
                if direction == .pull { holdings?.checkpointWritten(id: replicationID, sessionID: sessionID) }
            } catch {
                // Not fatal: the target's checkpoint is authoritative for where to resume.
                logger.warning("could not write the checkpoint on the source", metadata: ["source": "\(source.displayName)", "error": "\(error)"])
            }
        }

        var targetCheckpointed = (seq: startSeq, at: ContinuousClock.now)
        var skipped = 0

        func interrupted() -> ReplicationError {
            ReplicationError(.interrupted, "\(direction) stopped at a batch boundary (checkpoint at \(stats.lastSeq))")
        }
        if shouldStop() { throw interrupted() }
        let replicator = self
        var readAhead = ReadAhead(since: startSeq, batchSize: configuration.batchSize, depth: configuration.readAhead,
                                  readChanges: { try await replicator.readChanges(from: source, since: $0, filter: filter) },
                                  fetch: { try await replicator.fetchMissing($0, from: source, to: target, skipping: held) })
        defer { readAhead.cancel() }
        // A server target takes several `_bulk_docs` at once; a local one writes each batch
        // with its checkpoint in one transaction, one after the other.
        var writes: [Task<BatchWrite, any Error>] = []
        defer { for write in writes { write.cancel() } }
        let writesInFlight = target.checkpointsWithWrites ? 1 : max(1, configuration.writesInFlight)
        /// Waits for the oldest write in flight and counts it.
        func settleOldest() async throws {
            let done: BatchWrite
            do {
                done = try await Self.value(of: writes.removeFirst())
            } catch where Task.isCancelled {
                throw ReplicationError(.interrupted, "\(direction) stopped while writing a batch (checkpoint at \(targetCheckpointed.seq))")
            }
            done.count(into: &stats)
            if let body = done.checkpoint {
                targetCheckpointed = (stats.lastSeq, ContinuousClock.now)
                lastTargetCheckpoint = (stats.lastSeq, body)
            }
            report(direction, stats, remote)
        }

        while true {
            var next: SourceBatch?
            do {
                next = try await readAhead.next()
            } catch where Task.isCancelled {
                throw ReplicationError(.interrupted, "\(direction) stopped while a request was in flight (checkpoint at \(targetCheckpointed.seq))")
            }
            guard let read = next.take() else { break }
            let batch = read.batch
            let isLast = readAhead.isLast(batch)
            // The boundary before the next batch: what was read ahead of it is dropped.
            let stopping = !isLast && shouldStop()
            if stopping { readAhead.cancel() }
            stats.changesRead += batch.rows.count
            stats.missingChecked += read.missingChecked
            stats.missingFound += read.missingFound
            skipped += read.skipped
            report(direction, stats, remote)
            if dryRun {
                stats.lastSeq = batch.lastSeq
                if stopping { throw interrupted() }
                continue
            }
            // Big batches (large documents) are written fewer at a time: memory stays bounded.
            let writeLimit = ReadAhead.limit(writesInFlight, batchBytes: read.fetchedBytes)
            while writes.count >= writeLimit { try await settleOldest() }
            var checkpoint: (id: String, body: JSONValue)?
            if target.checkpointsWithWrites {
                // Counted as the write will count it; `writes` is empty, so `stats` is final.
                var after = stats
                after.lastSeq = batch.lastSeq
                after.docsRead += read.fetched.count
                after.docsWritten += read.fetched.count(where: { $0.refusal == nil })
                if after.lastSeq != targetCheckpointed.seq { checkpoint = (replicationID, checkpointBody(after)) }
            }
            let recording = direction == .pull && holdings?.isRecording == true ? holdings : nil
            // The write task holds the only reference to the batch, so that each document's
            // JSON is freed as soon as it is stored (a large document is not held twice).
            let handoff = Handoff(consume read)
            writes.append(Task { [checkpoint] in
                guard let read = handoff.take() else { throw ReplicationError(.interrupted, "a batch was handed to two writes") }
                // Moved, not copied: this closure keeps no reference to the batch.
                return try await replicator.write(consume read, from: source, to: target, checkpoint: checkpoint, recording: recording)
            })
            let final = isLast || stopping
            if final || !target.checkpointsWithWrites && ContinuousClock.now - targetCheckpointed.at >= checkpointInterval {
                // A checkpoint covers only what is durable: every write before it has ended.
                while !writes.isEmpty { try await settleOldest() }
                if !target.checkpointsWithWrites && stats.lastSeq != targetCheckpointed.seq {
                    let body = checkpointBody(stats)
                    try await target.writeCheckpoint(id: replicationID, body: body)
                    targetCheckpointed = (stats.lastSeq, ContinuousClock.now)
                    lastTargetCheckpoint = (stats.lastSeq, body)
                }
            } else if target.checkpointsWithWrites {
                try await settleOldest()
            }
            await checkpointSource(force: final)
            if stopping { throw interrupted() }
        }
        while !writes.isEmpty { try await settleOldest() }
        if skipped > 0 {
            logger.debug("not asked about documents this run's pull showed the remote holds",
                         metadata: ["direction": "\(direction)", "documents": "\(skipped)"])
        }
        return stats
    }

    /// A task's value, cancelling the task when the waiting one is cancelled.
    static func value<T: Sendable>(of task: Task<T, any Error>) async throws -> T {
        try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    /// What writing one batch did, counted into the direction's result once every batch
    /// before it is counted.
    struct BatchWrite: Sendable {
        var lastSeq: OpaqueSequence
        var docsRead: Int
        var written: Int
        var failures: [WriteFailure]
        var conflictsCreated: Int
        /// The target's checkpoint written with the batch, if one was.
        var checkpoint: JSONValue?

        func count(into stats: inout DirectionResult) {
            stats.lastSeq = lastSeq
            stats.docsRead += docsRead
            stats.docsWritten += written
            stats.docWriteFailures += failures.count
            stats.conflictsCreated += conflictsCreated
            stats.failures += failures.prefix(max(0, 100 - stats.failures.count))
        }
    }

    /// Writes one batch to the target with, when given, the target's checkpoint after the
    /// revisions are durable; a pull `recording` notes in it what the remote holds.
    ///
    /// The batch is consumed: the target frees each revision's JSON once it has used it.
    private func write(_ read: consuming SourceBatch, from source: any ReplicationPeer, to target: any ReplicationPeer,
                       checkpoint: (id: String, body: JSONValue)?, recording: RemoteHoldings?) async throws -> BatchWrite {
        var done = BatchWrite(lastSeq: read.batch.lastSeq, docsRead: read.fetched.count, written: 0, failures: [],
                              conflictsCreated: 0, checkpoint: checkpoint?.body)
        guard !read.requests.isEmpty else {
            if let checkpoint { try await target.writeCheckpoint(id: checkpoint.id, body: checkpoint.body) }
            return done
        }
        var fetched = read.fetched
        read.fetched = []
        done.failures = Self.takeRefused(&fetched)
        let requests = read.requests
        let sourceLeaves = recording.map { _ in
            Dictionary(read.batch.rows.map { ($0.id, Set($0.revs)) }, uniquingKeysWith: { $0.union($1) })
        }
        /// One write to the target (of part of the batch when some of its attachment data was
        /// deferred), with `checkpoint` when it is the last.
        func write(_ fetched: consuming [FetchedRevision], checkpoint: (id: String, body: JSONValue)?) async throws -> WriteResult {
            guard let recording, let sourceLeaves, let local = target as? LocalPeer else {
                return try await target.write(fetched, checkpoint: checkpoint)
            }
            let (result, held) = try await local.write(fetched, checkpoint: checkpoint, sourceLeaves: sourceLeaves)
            recording.record(held)
            return result
        }
        /// ``write(_:checkpoint:)``; when the target lacks attachment data the stubs referred
        /// to, those documents are fetched again with all their data (the first fetch went to
        /// the target) and the part is written again.
        func writePart(_ part: consuming [FetchedRevision], checkpoint: (id: String, body: JSONValue)?) async throws {
            let ids = Set(part.map(\.id))
            let written: WriteResult
            do {
                written = try await write(consume part, checkpoint: checkpoint)
            } catch let missing as MissingStubs {
                logger.info("resending documents with attachment data", metadata: ["count": "\(missing.ids.count)"])
                let again = requests.filter { ids.contains($0.id) }
                    .map { missing.ids.contains($0.id) ? RevisionRequest(id: $0.id, revs: $0.revs, attsSince: []) : $0 }
                var refetched: [FetchedRevision] = []
                for revision in try await source.fetch(again) {
                    if let complete = revision.deferredData {
                        if let revision = try await complete() { refetched.append(revision) }
                    } else {
                        refetched.append(revision)
                    }
                }
                done.failures += Self.takeRefused(&refetched)
                written = try await write(consume refetched, checkpoint: checkpoint)
            }
            done.failures += written.failures
            done.written += written.written
            done.conflictsCreated += written.conflictsCreated
        }
        // Documents whose big attachment data the source left for now (over the batch's spool
        // budget) are written after the rest, a part at a time, each part's data spooled just
        // before; the checkpoint goes with the last part.
        var deferred = fetched.filter { $0.deferredData != nil }[...]
        if deferred.isEmpty {
            try await writePart(consume fetched, checkpoint: checkpoint)
        } else {
            fetched.removeAll { $0.deferredData != nil }
            if !fetched.isEmpty { try await writePart(consume fetched, checkpoint: nil) }
            while !deferred.isEmpty {
                var part: [FetchedRevision] = []
                var bytes = 0
                while bytes < configuration.spoolBytesPerBatch, let next = deferred.popFirst() {
                    guard let revision = try await next.deferredData?() else { continue }
                    bytes += revision.spooledBytes
                    part.append(revision)
                }
                let last = deferred.isEmpty
                if !part.isEmpty {
                    try await writePart(consume part, checkpoint: last ? checkpoint : nil)
                } else if last, let checkpoint {
                    try await target.writeCheckpoint(id: checkpoint.id, body: checkpoint.body)
                }
            }
        }
        for failure in done.failures.prefix(20) {
            logger.warning("a revision was not replicated (counted in doc_write_failures)", metadata: [
                "id": "\(failure.id)", "rev": "\(failure.rev ?? "?")", "error": "\(failure.error)", "reason": "\(failure.reason)"])
        }
        return done
    }

    /// Takes the revisions the source could not give (``FetchedRevision/refusal``) out of a
    /// batch, in place: they are skipped and counted as write failures, the rest is written.
    static func takeRefused(_ fetched: inout [FetchedRevision]) -> [WriteFailure] {
        let refused = fetched.compactMap(\.refusal)
        if !refused.isEmpty { fetched.removeAll { $0.refusal != nil } }
        return refused
    }

    private func report(_ direction: ReplicatorConfiguration.Direction, _ stats: DirectionResult, _ remote: any ReplicationPeer) {
        guard let progress else { return }
        let traffic = remote.traffic
        progress(ReplicationProgress(direction: direction, counters: stats, bytesReceived: traffic.bytesReceived, bytesSent: traffic.bytesSent))
    }
}
