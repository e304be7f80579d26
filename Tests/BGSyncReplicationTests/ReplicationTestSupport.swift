import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Logging

/// Runs a replication quickly (short retry delays) and returns its result.
func sync(_ database: String, _ remote: String, direction: ReplicatorConfiguration.Direction = .pullAndPush,
          batchSize: Int = 500, auth: Authentication = .none, pushFilter: PushFilter? = nil, pullFilter: PullFilter? = nil,
          maxRetries: Int = 5, createTarget: Bool = true, shouldStop: (@Sendable () -> Bool)? = nil) async throws -> SyncResult {
    var configuration = ReplicatorConfiguration(database: database, remote: try Endpoint(parsing: remote), direction: direction)
    configuration.createTarget = createTarget
    configuration.batchSize = batchSize
    configuration.http.auth = auth
    configuration.http.initialRetryDelay = 0.01
    configuration.http.maxRetries = maxRetries
    configuration.http.requestTimeout = 30
    configuration.pushFilter = pushFilter
    configuration.pullFilter = pullFilter
    var replicator = Replicator(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    if let shouldStop { replicator.shouldStop = shouldStop }
    // Checkpoints at the end and at a stop only, however slow a loaded machine makes the run.
    replicator.checkpointInterval = .seconds(3600)
    return try await replicator.runOnDedicatedThreads()
}

extension Replicator {
    /// ``run()`` away from the concurrency pool (``onDedicatedThreads(_:)``), as the bgsync
    /// process runs it: a parallel test run's queue does not count against its deadlines.
    func runOnDedicatedThreads() async throws -> SyncResult {
        let replicator = self
        return try await onDedicatedThreads { try await replicator.run() }
    }
}

/// Every document's full state: winner JSON with revisions and conflicts, for comparing stores.
func snapshot(_ store: DocumentStore) throws -> [String: String] {
    try store.read { tx in
        var result: [String: String] = [:]
        for summary in try tx.allDocuments(includeDeleted: true) {
            let leaves = try tx.tree(of: summary.id)?.leaves.map { "\($0.rev)\($0.deleted ? "d" : "")" } ?? []
            let winner = try tx.openRevisions(summary.id, revs: [summary.rev])
            result[summary.id] = leaves.joined(separator: ",") + " " + "\(winner)"
        }
        return result
    }
}

extension DocumentStore {
    /// Puts a JSON body, returning the new revision text.
    @discardableResult
    func put(_ id: String, _ json: String) throws -> String {
        try write { try $0.put(id: id, json: json).description }
    }

    /// The winner's revision.
    func winner(_ id: String) throws -> String? {
        try read { try $0.tree(of: id)?.winner?.rev.description }
    }
}

/// A counter safe to bump from `@Sendable` closures.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
