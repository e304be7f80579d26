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
    /// nothing: `missingFound` tells what a real run would transfer.
    public var dryRun = false

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
        let store: DocumentStore
        do {
            store = try DocumentStore.open(at: configuration.database)
        } catch let error as StoreError {
            throw ReplicationError.localStore(error)
        }
        let local = LocalPeer(store: store)
        let remote: any ReplicationPeer
        var httpPeer: HTTPPeer?
        switch configuration.remote {
        case .http(let url):
            let peer = try HTTPPeer(url: url, options: configuration.http, logger: logger)
            httpPeer = peer
            remote = peer
        case .file(let path):
            do {
                remote = LocalPeer(store: try DocumentStore.open(at: path))
            } catch let error as StoreError {
                throw ReplicationError.localStore(error)
            }
        }
        do {
            var result = SyncResult(pull: nil, push: nil, httpRequests: 0)
            if configuration.direction != .push {
                result.pull = try await replicate(from: remote, to: local, direction: "pull",
                                                  filter: configuration.pullFilter.map { .pull($0) }, http: httpPeer)
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
        } catch {
            await httpPeer?.shutdown()
            throw error
        }
    }

    /// One direction, source → target, batch by batch.
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
        let sessionID = MD5.hex(MD5.digest(Array(UUID().uuidString.utf8)))
        let startTime = Date()
        var stats = DirectionResult(direction: direction)
        stats.startSeq = startSeq
        stats.lastSeq = startSeq
        logger.debug("replicating", metadata: ["direction": "\(direction)", "id": "\(replicationID)", "since": "\(startSeq)"])
        var since = startSeq
        while true {
            if shouldStop() {
                throw ReplicationError(.interrupted, "\(direction) stopped at a batch boundary (checkpoint at \(since))")
            }
            let batch = try await source.changes(since: since, limit: configuration.batchSize, filter: filter)
            stats.changesRead += batch.rows.count
            var checkpointWritten = false
            if !batch.rows.isEmpty {
                stats.missingChecked += batch.rows.reduce(0) { $0 + $1.revs.count }
                let diff = try await target.revsDiff(batch.rows.map { ($0.id, $0.revs) })
                let requests = batch.rows.compactMap { row -> RevisionRequest? in
                    guard let entry = diff[row.id], !entry.missing.isEmpty else { return nil }
                    return RevisionRequest(id: row.id, revs: entry.missing, attsSince: entry.possibleAncestors)
                }
                stats.missingFound += requests.reduce(0) { $0 + $1.revs.count }
                report(direction, stats, http)
                if dryRun {
                    since = batch.lastSeq
                    stats.lastSeq = since
                    if batch.rowsBeforeFilter < configuration.batchSize { break }
                    continue
                }
                if !requests.isEmpty {
                    var fetched = try await source.fetch(requests)
                    stats.docsRead += fetched.count
                    var next = stats
                    next.lastSeq = batch.lastSeq
                    next.docsWritten += fetched.count  // as recorded in the history; refusals are counted after the write
                    let checkpoint = Checkpoint.body(sessionID: sessionID, startTime: startTime, startSeq: startSeq,
                                                     lastSeq: batch.lastSeq, stats: next, previousHistory: history)
                    let written: WriteResult
                    do {
                        written = try await target.write(fetched, checkpoint: (replicationID, checkpoint))
                    } catch let missing as MissingStubs {
                        // The target lacks attachment data the stubs referred to: send it all.
                        logger.info("resending documents with attachment data", metadata: ["count": "\(missing.ids.count)"])
                        let again = requests.filter { missing.ids.contains($0.id) }.map { RevisionRequest(id: $0.id, revs: $0.revs, attsSince: []) }
                        let refetched = try await source.fetch(again)
                        fetched = fetched.filter { !missing.ids.contains($0.id) } + refetched
                        written = try await target.write(fetched, checkpoint: (replicationID, checkpoint))
                    }
                    stats.docsWritten += written.written
                    stats.docWriteFailures += written.failures.count
                    stats.conflictsCreated += written.conflictsCreated
                    stats.failures += written.failures.prefix(max(0, 100 - stats.failures.count))
                    for failure in written.failures.prefix(20) {
                        logger.warning("the target refused a revision", metadata: [
                            "id": "\(failure.id)", "rev": "\(failure.rev ?? "?")", "error": "\(failure.error)", "reason": "\(failure.reason)"])
                    }
                    checkpointWritten = true
                }
            }
            let moved = batch.lastSeq != since
            since = batch.lastSeq
            stats.lastSeq = since
            if moved && !dryRun {
                let checkpoint = Checkpoint.body(sessionID: sessionID, startTime: startTime, startSeq: startSeq,
                                                 lastSeq: since, stats: stats, previousHistory: history)
                if !checkpointWritten { try await target.writeCheckpoint(id: replicationID, body: checkpoint) }
                do {
                    try await source.writeCheckpoint(id: replicationID, body: checkpoint)
                } catch {
                    // Not fatal: the target's checkpoint is authoritative for where to resume.
                    logger.warning("could not write the checkpoint on the source", metadata: ["source": "\(source.displayName)", "error": "\(error)"])
                }
            }
            report(direction, stats, http)
            if batch.rowsBeforeFilter < configuration.batchSize { break }
        }
        return stats
    }

    private func report(_ direction: String, _ stats: DirectionResult, _ http: HTTPPeer?) {
        guard let progress else { return }
        let bytes = http?.bytes ?? (received: 0, sent: 0)
        progress(ReplicationProgress(direction: direction, counters: stats, bytesReceived: bytes.received, bytesSent: bytes.sent))
    }
}
