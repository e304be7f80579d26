import BGSyncStore
import Logging

/// What the conflict step of a run did.
public struct ConflictCounts: Sendable, Equatable {
    /// Documents whose conflict was resolved and written.
    public var resolved = 0
    /// Documents left in conflict: the resolver failed or refused, or the document changed
    /// while it was being resolved. They are asked about again in the next run.
    public var unresolved = 0

    /// No documents.
    public init() {}
}

/// The step between the pull and the push: every document of the local store in conflict is
/// given to the resolver, and each answer is written as revisions (tombstones on the losing
/// leaves, a new revision where needed), a batch of documents per transaction. The push then
/// sends them, so one run leaves both sides without the conflict.
///
/// Only documents changed since the previous scan are looked at: the scan's end is kept in the
/// local document `_local/bgsync-conflicts` (never replicated), held back before the first
/// document left unresolved so that the next run tries it again.
struct ConflictStep {
    var resolver: any ConflictResolver
    var logger: Logger
    var shouldStop: @Sendable () -> Bool
    /// Documents decided per batch (and written per transaction).
    var batchSize = 100

    static let checkpointID = "_local/bgsync-conflicts"

    func run(local: LocalPeer, remote: any ReplicationPeer) async throws -> ConflictCounts {
        let store = local.store
        let (since, through) = try local.local(store) { store in
            try store.read { tx in (try Self.scannedSeq(tx), try tx.updateSeq()) }
        }
        var counts = ConflictCounts()
        var cursor = since
        var firstUnresolved: Int?
        var stopped = false
        while cursor < through {
            if shouldStop() {
                stopped = true
                break
            }
            let conflicts: [DocumentConflict] = try local.local(store) { store in
                try store.read { tx in
                    let candidates = try tx.documentsWithSeveralLeaves(since: cursor, through: through, limit: batchSize)
                    cursor = candidates.last?.seq ?? through
                    return try candidates.compactMap { try tx.conflict(of: $0.id) }
                }
            }
            guard !conflicts.isEmpty else { continue }
            var remoteHas: [String: Set<RevisionID>] = [:]
            if resolver.needsOrigin {
                let diff = try await remote.revsDiff(conflicts.map { ($0.id, $0.leaves.map(\.rev)) })
                for conflict in conflicts {
                    remoteHas[conflict.id] = Set(conflict.leaves.map(\.rev)).subtracting(diff[conflict.id]?.missing ?? [])
                }
            }
            var decided: [(conflict: DocumentConflict, resolution: ConflictResolution)] = []
            func leftUnresolved(_ conflict: DocumentConflict, _ why: String) {
                counts.unresolved += 1
                firstUnresolved = min(firstUnresolved ?? conflict.seq, conflict.seq)
                logger.warning("conflict left unresolved", metadata: [
                    "id": "\(conflict.id)", "resolver": "\(resolver.name)", "reason": "\(why)"])
            }
            for conflict in conflicts {
                if shouldStop() {
                    // Not decided: the next run's scan starts at or before it.
                    stopped = true
                    firstUnresolved = min(firstUnresolved ?? conflict.seq, conflict.seq)
                    break
                }
                do {
                    let resolution = try await resolver.resolve(Conflict(id: conflict.id, leaves: conflict.leaves, remoteRevisions: remoteHas[conflict.id]))
                    decided.append((conflict, resolution))
                } catch is CancellationError {
                    throw CancellationError()  // the run was stopped: not this document's failure
                } catch {
                    leftUnresolved(conflict, "\(error)")
                }
            }
            guard !decided.isEmpty else { continue }
            let outcomes: [Result<ResolvedConflict, StoreError>] = try local.local(store) { store in
                try store.write { tx in
                    try decided.map { item -> Result<ResolvedConflict, StoreError> in
                        do {
                            return .success(try tx.resolveConflict(id: item.conflict.id, item.resolution, expecting: item.conflict.leaves.map(\.rev)))
                        } catch let error as StoreError where [.conflict, .invalidDocument, .notFound, .missingStub].contains(error.code) {
                            // Refused before anything of this document was written.
                            return .failure(error)
                        }
                    }
                }
            }
            for (item, outcome) in zip(decided, outcomes) {
                switch outcome {
                case .success(let written):
                    counts.resolved += 1
                    logger.info("conflict resolved", metadata: [
                        "id": "\(item.conflict.id)", "resolver": "\(resolver.name)", "winner": "\(written.winner)\(written.deleted ? " (deleted)" : "")"])
                case .failure(let error):
                    leftUnresolved(item.conflict, error.message)
                }
            }
        }
        var scanned = stopped ? cursor : through
        if let firstUnresolved { scanned = min(scanned, firstUnresolved - 1) }
        if scanned != since {
            let body = "{\"scanned_seq\":\(scanned)}"
            try local.local(store) { store in _ = try store.write { try $0.putLocal(id: Self.checkpointID, json: body) } }
        }
        return counts
    }

    /// Where the previous scan ended (0 before the first).
    static func scannedSeq(_ tx: StoreReader) throws -> Int {
        guard let text = try tx.localDocument(checkpointID) else { return 0 }
        return (try? JSONValue.parse(text))?["scanned_seq"]?.intValue ?? 0
    }
}
