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
    public var checkpointInterval: Duration = .seconds(5)

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
        let local = try openLocal(configuration.database, create: configuration.direction != .push || configuration.createTarget)
        let remote: any ReplicationPeer
        var httpPeer: HTTPPeer?
        switch configuration.remote {
        case .http(let url):
            let peer = try HTTPPeer(url: url, options: configuration.http, logger: logger)
            httpPeer = peer
            remote = peer
        case .file(let path):
            remote = try openLocal(path, create: configuration.createTarget)
        }
        var result = SyncResult(pull: nil, push: nil, httpRequests: 0)
        do {
            if configuration.direction != .push {
                result.pull = try await replicate(from: remote, to: local, direction: "pull",
                                                  filter: configuration.pullFilter.map { .pull($0) }, http: httpPeer)
            }
            if let resolver = configuration.conflictResolver, !dryRun {
                result.conflicts = try await ConflictStep(resolver: resolver, logger: logger, shouldStop: shouldStop)
                    .run(local: local, remote: remote)
            }
            if configuration.direction != .pull {
                result.push = try await replicate(from: local, to: remote, direction: "push",
                                                  filter: configuration.pushFilter.map { .push($0) }, http: httpPeer)
            }
            result.httpRequests = httpPeer?.requestCount ?? 0
            if let bytes = httpPeer?.bytes {
                result.httpBytesReceived = bytes.received
                result.httpBytesSent = bytes.sent
            }
            await httpPeer?.shutdown()
            return result
        } catch var error as ReplicationError {
            await httpPeer?.shutdown()
            if result.pull != nil {
                result.httpRequests = httpPeer?.requestCount ?? 0
                error.partialResult = result
            }
            throw httpPeer?.scrubbed(error) ?? error
        } catch where Task.isCancelled {
            // Stopped before or between directions' own handling (opening, checkpoints).
            await httpPeer?.shutdown()
            var error = ReplicationError(.interrupted, "stopped while a request was in flight")
            if result.pull != nil { error.partialResult = result }
            throw error
        } catch {
            await httpPeer?.shutdown()
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
    }

    /// Reads one batch of changes after `since`, asks the target what it lacks and fetches it.
    func readBatch(from source: any ReplicationPeer, to target: any ReplicationPeer, since: OpaqueSequence,
                   filter: ChangesFilter?) async throws -> SourceBatch {
        let batch = try await source.changes(since: since, limit: configuration.batchSize, filter: filter)
        if batch.rowsBeforeFilter >= configuration.batchSize && batch.lastSeq == since {
            // A full batch that ends where it started would be asked for again, forever.
            throw ReplicationError(.malformedResponse, "the changes feed of \(source.displayName) does not advance: \(batch.rowsBeforeFilter) changes after \(since) end at \(since)")
        }
        var read = SourceBatch(batch: batch, requests: [], fetched: [], missingChecked: 0, missingFound: 0)
        guard !batch.rows.isEmpty else { return read }
        read.missingChecked = batch.rows.reduce(0) { $0 + $1.revs.count }
        let diff = try await target.revsDiff(batch.rows.map { ($0.id, $0.revs) })
        read.requests = batch.rows.compactMap { row -> RevisionRequest? in
            guard let entry = diff[row.id], !entry.missing.isEmpty else { return nil }
            return RevisionRequest(id: row.id, revs: entry.missing, attsSince: entry.possibleAncestors)
        }
        read.missingFound = read.requests.reduce(0) { $0 + $1.revs.count }
        if !dryRun && !read.requests.isEmpty {
            read.fetched = try await source.fetch(read.requests)
        }
        return read
    }

    /// One direction, source → target, batch by batch. Reading batch N+1 from the source (the
    /// changes feed, `_revs_diff`, `_bulk_get`) overlaps writing batch N to the target, so the
    /// two sides work at the same time; at most two batches are held in memory.
    ///
    /// Checkpoints: a local target stores its checkpoint with every batch, in the batch's
    /// transaction; a server target, and the source, at most every ``checkpointInterval`` and
    /// when the direction ends or stops, as CouchDB's replicator does (each is an extra
    /// request). A checkpoint that lags behind only makes the next run read again changes the
    /// target already has; it never skips any, since it is written after what it covers.
    func replicate(from source: any ReplicationPeer, to target: any ReplicationPeer, direction: String,
                   filter: ChangesFilter?, http: HTTPPeer?) async throws -> DirectionResult {
        let sourceID = try await source.open()
        let targetID = try await target.open()
        let localID = direction == "pull" ? targetID : sourceID
        let remoteID = direction == "pull" ? sourceID : targetID
        let replicationID = Checkpoint.replicationID(local: localID, remote: remoteID, direction: direction, filter: filter)
        let sourceCheckpoint = try await source.readCheckpoint(id: replicationID)
        let targetCheckpoint = sourceCheckpoint == nil ? nil : try await target.readCheckpoint(id: replicationID)
        let (startSeq, history) = Checkpoint.startPoint(source: sourceCheckpoint, target: targetCheckpoint)
        if direction == "push", !dryRun {
            if let limit = configuration.maxDelete {
                try await DeletionGuard(limit: limit, logger: logger).check(source: source, target: target, since: startSeq, filter: filter)
            } else {
                DeletionGuard.reportLifted(source: source, since: startSeq, logger: logger)
            }
        }
        let sessionID = MD5.hex(MD5.digest(Array(UUID().uuidString.utf8)))
        let startTime = Date()
        var stats = DirectionResult(direction: direction)
        stats.startSeq = startSeq
        stats.lastSeq = startSeq
        logger.debug("replicating", metadata: ["direction": "\(direction)", "id": "\(replicationID)", "since": "\(startSeq)"])

        var sourceCheckpointed = (seq: startSeq, at: ContinuousClock.now)
        /// Writes the source's checkpoint when it lags behind (always when `force`).
        func checkpointSource(force: Bool) async {
            guard !dryRun, stats.lastSeq != sourceCheckpointed.seq,
                  force || ContinuousClock.now - sourceCheckpointed.at >= checkpointInterval else { return }
            let checkpoint = Checkpoint.body(sessionID: sessionID, startTime: startTime, startSeq: startSeq,
                                             lastSeq: stats.lastSeq, stats: stats, previousHistory: history)
            do {
                try await source.writeCheckpoint(id: replicationID, body: checkpoint)
                sourceCheckpointed = (stats.lastSeq, ContinuousClock.now)
            } catch {
                // Not fatal: the target's checkpoint is authoritative for where to resume.
                logger.warning("could not write the checkpoint on the source", metadata: ["source": "\(source.displayName)", "error": "\(error)"])
            }
        }

        var targetCheckpointed = (seq: startSeq, at: ContinuousClock.now)

        func interrupted() -> ReplicationError {
            ReplicationError(.interrupted, "\(direction) stopped at a batch boundary (checkpoint at \(stats.lastSeq))")
        }
        if shouldStop() { throw interrupted() }
        var next: Task<SourceBatch, any Error>? = Task { try await readBatch(from: source, to: target, since: startSeq, filter: filter) }
        defer { next?.cancel() }
        while let reading = next {
            next = nil
            let read: SourceBatch
            do {
                // The read ahead is a task of its own: a cancelled run cancels it too.
                read = try await withTaskCancellationHandler { try await reading.value } onCancel: { reading.cancel() }
            } catch where Task.isCancelled {
                throw ReplicationError(.interrupted, "\(direction) stopped while a request was in flight (checkpoint at \(targetCheckpointed.seq))")
            }
            let batch = read.batch
            let isLast = batch.rowsBeforeFilter < configuration.batchSize
            // The boundary before the next batch: asked before it is read, as without the overlap.
            let stopping = !isLast && shouldStop()
            if !isLast && !stopping {
                let since = batch.lastSeq
                next = Task { try await readBatch(from: source, to: target, since: since, filter: filter) }
            }
            stats.changesRead += batch.rows.count
            stats.missingChecked += read.missingChecked
            stats.missingFound += read.missingFound
            report(direction, stats, http)
            if dryRun {
                stats.lastSeq = batch.lastSeq
            } else {
                let due = isLast || stopping || target.checkpointsWithWrites
                    || ContinuousClock.now - targetCheckpointed.at >= checkpointInterval
                let checkpointed: Bool
                do {
                    checkpointed = try await write(read, from: source, to: target, stats: &stats, checkpoint: !due ? nil : { stats in
                        Checkpoint.body(sessionID: sessionID, startTime: startTime, startSeq: startSeq,
                                        lastSeq: stats.lastSeq, stats: stats, previousHistory: history)
                    }, replicationID: replicationID, lastCheckpoint: targetCheckpointed.seq)
                } catch where Task.isCancelled {
                    throw ReplicationError(.interrupted, "\(direction) stopped while writing a batch (checkpoint at \(targetCheckpointed.seq))")
                }
                if checkpointed { targetCheckpointed = (stats.lastSeq, ContinuousClock.now) }
                report(direction, stats, http)
                await checkpointSource(force: isLast || stopping)
            }
            if stopping { throw interrupted() }
        }
        return stats
    }

    /// Writes one batch to the target, then (when `checkpoint` makes one) the target's
    /// checkpoint, after the revisions are durable; advances `stats`.
    /// - Returns: whether the checkpoint was written.
    private func write(_ read: SourceBatch, from source: any ReplicationPeer, to target: any ReplicationPeer,
                       stats: inout DirectionResult, checkpoint makeCheckpoint: ((DirectionResult) -> JSONValue)?,
                       replicationID: String, lastCheckpoint: OpaqueSequence) async throws -> Bool {
        guard !read.requests.isEmpty else {
            stats.lastSeq = read.batch.lastSeq
            guard let makeCheckpoint, stats.lastSeq != lastCheckpoint else { return false }
            try await target.writeCheckpoint(id: replicationID, body: makeCheckpoint(stats))
            return true
        }
        var (fetched, refused) = Self.splitRefused(read.fetched)
        stats.docsRead += read.fetched.count
        var next = stats
        next.lastSeq = read.batch.lastSeq
        next.docsWritten += fetched.count  // as recorded in the history; refusals are counted after the write
        let checkpoint = makeCheckpoint.map { (id: replicationID, body: $0(next)) }
        let written: WriteResult
        do {
            written = try await target.write(fetched, checkpoint: checkpoint)
        } catch let missing as MissingStubs {
            // The target lacks attachment data the stubs referred to: send it all.
            logger.info("resending documents with attachment data", metadata: ["count": "\(missing.ids.count)"])
            let again = read.requests.filter { missing.ids.contains($0.id) }.map { RevisionRequest(id: $0.id, revs: $0.revs, attsSince: []) }
            let refetched = Self.splitRefused(try await source.fetch(again))
            refused = refused.filter { !missing.ids.contains($0.id) } + refetched.refused
            fetched = fetched.filter { !missing.ids.contains($0.id) } + refetched.usable
            written = try await target.write(fetched, checkpoint: checkpoint)
        }
        let failures = refused + written.failures
        stats.lastSeq = read.batch.lastSeq
        stats.docsWritten += written.written
        stats.docWriteFailures += failures.count
        stats.conflictsCreated += written.conflictsCreated
        stats.failures += failures.prefix(max(0, 100 - stats.failures.count))
        for failure in failures.prefix(20) {
            logger.warning("a revision was not replicated (counted in doc_write_failures)", metadata: [
                "id": "\(failure.id)", "rev": "\(failure.rev ?? "?")", "error": "\(failure.error)", "reason": "\(failure.reason)"])
        }
        return checkpoint != nil
    }

    /// Takes the revisions the source could not give (``FetchedRevision/refusal``) out of a
    /// batch: they are skipped and counted as write failures, the rest is written.
    static func splitRefused(_ fetched: [FetchedRevision]) -> (usable: [FetchedRevision], refused: [WriteFailure]) {
        (fetched.filter { $0.refusal == nil }, fetched.compactMap(\.refusal))
    }

    private func report(_ direction: String, _ stats: DirectionResult, _ http: HTTPPeer?) {
        guard let progress else { return }
        let bytes = http?.bytes ?? (received: 0, sent: 0)
        progress(ReplicationProgress(direction: direction, counters: stats, bytesReceived: bytes.received, bytesSent: bytes.sent))
    }
}
