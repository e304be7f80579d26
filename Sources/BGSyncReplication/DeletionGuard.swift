import BGSyncStore
import Foundation
import Logging

/// The mass-deletion guard, asked by ``Replicator`` before a push writes anything: refuses a
/// push that would delete more of the remote's live documents than
/// ``ReplicatorConfiguration/maxDelete`` allows.
///
/// It costs nothing on a normal run: first a local estimate (documents changed since the push
/// checkpoint whose winning revision is a tombstone, one indexed count) against the remote's
/// `doc_count` that `GET /db` already reported. Only when that estimate exceeds the limit does it
/// ask the remote which of those documents it has live (`POST _all_docs` with `keys`, in
/// batches), so that documents created and deleted locally without ever reaching the remote
/// do not count.
struct DeletionGuard {
    /// The limit.
    var limit: DeletionLimit
    /// Where the decision is logged.
    var logger: Logger
    /// Ids asked per `_all_docs` request.
    static let batchSize = 500

    /// Throws ``ReplicationError/Kind/deletionRefused`` when the push from `since` would delete
    /// more than the limit; returns otherwise.
    func check(local: LocalPeer, remote: any ReplicationPeer, since: OpaqueSequence, filter: ChangesFilter?) async throws {
        guard let start = Int(since.queryValue), start >= 0 else { return }
        let wanted: Set<String>?
        if case .push(.documentIDs(let ids))? = filter { wanted = Set(ids) } else { wanted = nil }
        let estimate = try local.read { try $0.deletionCount(since: start) }
        guard estimate > 0 else { return }
        if case .count(let maximum) = limit, estimate <= maximum { return }
        let reported = try await remote.liveDocumentCount()
        if reported == nil, case .percent = limit {
            logger.warning("the remote does not report its document count; max_delete as a percentage cannot be checked",
                           metadata: ["remote": "\(remote.displayName)", "deletions": "\(estimate)"])
            return
        }
        // An absolute limit needs no count; Int.max stands for "unknown" (never 0: a count of 0 allows everything).
        let documentCount = reported ?? Int.max
        guard !limit.allows(estimate, of: documentCount) else { return }

        var deletions = 0
        var after = start
        while true {
            let page = try local.read { try $0.deletedDocumentIDs(since: after, limit: Self.batchSize) }
            guard let lastSeq = page.lastSeq else { break }
            after = lastSeq
            let ids = wanted.map { wanted in page.ids.filter { wanted.contains($0) } } ?? page.ids
            if !ids.isEmpty { deletions += try await remote.liveDocumentIDs(among: ids).count }
            if page.ids.count < Self.batchSize { break }
        }
        logger.debug("mass-deletion guard", metadata: ["estimate": "\(estimate)", "deletions": "\(deletions)",
                                                       "remote_documents": "\(documentCount)", "max_delete": "\(limit)"])
        guard !limit.allows(deletions, of: documentCount) else { return }
        throw ReplicationError(.deletionRefused, Self.message(deletions: deletions, documentCount: documentCount, limit: limit))
    }

    /// With the guard lifted (`--allow-mass-deletion`): logs how many deletions the push carries
    /// (the local estimate: documents deleted since the push checkpoint), so that a lifted guard
    /// never deletes silently.
    static func reportLifted(local: LocalPeer, since: OpaqueSequence, logger: Logger) {
        guard let start = Int(since.queryValue), start >= 0,
              let deletions = try? local.read({ try $0.deletionCount(since: start) }), deletions > 0 else { return }
        logger.warning("max_delete lifted: the push carries \(grouped(deletions)) deletion\(deletions == 1 ? "" : "s")",
                       metadata: ["deletions": "\(deletions)"])
    }

    /// "push refused: it would delete 812 of the remote's 1,000 documents (81 %), more than
    /// max_delete = 50 %; run with --allow-mass-deletion to push anyway".
    static func message(deletions: Int, documentCount: Int, limit: DeletionLimit) -> String {
        let share = documentCount > 0 ? Double(deletions) * 100 / Double(documentCount) : 0
        let percent = share >= 1 || share == 0 ? String(Int(share.rounded(.down))) : DeletionLimit.formatPercent(max(share, 0.1))
        let what = documentCount == Int.max ? "\(grouped(deletions)) of the remote's documents"
            : "\(grouped(deletions)) of the remote's \(grouped(documentCount)) documents (\(percent) %)"
        return "push refused: it would delete \(what), more than max_delete = \(limit); run with --allow-mass-deletion to push anyway (or raise max_delete)"
    }

    /// `1,000`.
    static func grouped(_ number: Int) -> String {
        let digits = Array(String(number.magnitude))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return (number < 0 ? "-" : "") + text
    }
}
