import BGSyncTestSupport
import BGSyncStore
import Foundation

/// Documents with everything replication must carry: edit histories, live conflicts, deleted
/// conflicts, tombstones (some with a live conflict that then wins), attachments (some shared
/// between documents, some on a conflict branch, some carried as stubs through later edits).
///
/// Written straight into a store (the fixture server's or the local one) in transactions of
/// 500 documents; the same seed gives the same documents and revision ids.
enum MixedDataset {
    /// What was written.
    struct Summary: Equatable, CustomStringConvertible {
        var documents = 0
        var edited = 0
        var conflicts = 0
        var deletedConflicts = 0
        var deleted = 0
        var attachments = 0

        var description: String {
            "\(documents) documents (\(edited) edited, \(conflicts) with a live conflict, \(deletedConflicts) with a deleted conflict, \(deleted) deleted, \(attachments) attachments)"
        }
    }

    /// The id of document `index`.
    static func id(_ prefix: String, _ index: Int) -> String { prefix + String(format: "%05d", index) }

    /// Writes documents `range` (ids `prefix` + 5 digits) into `store`.
    @discardableResult
    static func seed(_ store: DocumentStore, range: Range<Int>, prefix: String = "d", seed: UInt64) throws -> Summary {
        var rng = SeededRandom(seed: seed)
        var summary = Summary()
        let shared = randomBytes(3000, &rng)
        for start in stride(from: range.lowerBound, to: range.upperBound, by: 500) {
            try store.write { tx in
                for index in start..<min(start + 500, range.upperBound) {
                    try write(index: index, id: id(prefix, index), tx: tx, shared: shared, rng: &rng, summary: &summary)
                }
            }
        }
        return summary
    }

    private static func write(index: Int, id: String, tx: StoreWriter, shared: [UInt8], rng: inout SeededRandom,
                              summary: inout Summary) throws {
        summary.documents += 1
        let category = index % 20
        var attachments: [String] = []
        if category == 5 || category == 15 {
            let data = randomBytes(Int.random(in: 16...4096, using: &rng), &rng)
            attachments.append(#""note-\#(index).bin":{"content_type":"application/octet-stream","data":"\#(Data(data).base64EncodedString())"}"#)
            if index % 40 == 5 {
                attachments.append(#""shared.bin":{"content_type":"application/octet-stream","data":"\#(Data(shared).base64EncodedString())"}"#)
            }
            summary.attachments += attachments.count
        }
        let names = attachments.map { String($0.prefix { $0 != ":" }) }
        let attachmentsJSON = attachments.isEmpty ? "" : #","_attachments":{"# + attachments.joined(separator: ",") + "}"
        let first = try tx.put(id: id, json: #"{"n":\#(index),"title":"document \#(index)","pad":"\#(text(&rng))"\#(attachmentsJSON)}"#)
        var winner = first
        let branches = [0, 7, 11, 13, 17].contains(category)
        // A document that gets a second branch from its first revision is edited at least once
        // here, so that the branches are siblings.
        let edits = rng.next() % 4 == 0 || branches ? Int(rng.next() % 3) + 1 : 0
        if edits > 0 { summary.edited += 1 }
        for edit in 0..<edits {
            let stubs = names.isEmpty ? "" : #","_attachments":{"# + names.map { #"\#($0):{"stub":true}"# }.joined(separator: ",") + "}"
            winner = try tx.put(id: id, json: #"{"_rev":"\#(winner)","n":\#(index),"edit":\#(edit + 1),"pad":"\#(text(&rng))"\#(stubs)}"#)
        }
        switch category {
        case 0, 7, 11, 13, 17:
            // A branch from the first revision, as another replica would have written it.
            let hash = hex(&rng)
            let deletedBranch = category == 13
            var body = #"{"_id":"\#(id)","_rev":"2-\#(hash)","_revisions":{"start":2,"ids":["\#(hash)","\#(first.hash)"]},"n":\#(index),"branch":"other","pad":"\#(text(&rng))""#
            if deletedBranch { body += #","_deleted":true"# }
            if category == 17 {
                let data = randomBytes(Int.random(in: 16...2048, using: &rng), &rng)
                body += #","_attachments":{"branch.bin":{"content_type":"application/octet-stream","revpos":2,"data":"\#(Data(data).base64EncodedString())"}}"#
                summary.attachments += 1
            }
            try tx.put(json: body + "}", newEdits: false)
            if deletedBranch { summary.deletedConflicts += 1 } else { summary.conflicts += 1 }
            if category == 11 {
                // Deleting the main branch leaves the other branch as the live winner.
                try tx.delete(id: id, rev: winner)
                summary.deleted += 1
            }
        case 3:
            try tx.delete(id: id, rev: winner)
            summary.deleted += 1
        default:
            break
        }
    }

    /// Makes `count` more changes to random documents of `range`: edits of the winner, new
    /// conflict branches and deletions, as further activity on one side.
    /// - Returns: the ids changed.
    @discardableResult
    static func mutate(_ store: DocumentStore, range: Range<Int>, prefix: String = "d", count: Int,
                       rng: inout SeededRandom) throws -> Set<String> {
        guard !range.isEmpty else { return [] }
        return try store.write { tx in
            var changed = Set<String>()
            for _ in 0..<count {
                let index = Int.random(in: range, using: &rng)
                let id = id(prefix, index)
                changed.insert(id)
                guard let tree = try tx.reader.tree(of: id), let winner = tree.winner else { continue }
                switch rng.next() % 5 {
                case 0 where !winner.deleted:
                    try tx.delete(id: id, rev: winner.rev)
                case 1:
                    // An edit of the winner here and a sibling from another replica: two leaves.
                    if !winner.deleted { try tx.put(id: id, json: #"{"_rev":"\#(winner.rev)","late":true}"#) }
                    let hash = hex(&rng)
                    try tx.put(json: #"{"_id":"\#(id)","_rev":"\#(winner.rev.generation + 1)-\#(hash)","_revisions":{"start":\#(winner.rev.generation + 1),"ids":["\#(hash)","\#(winner.rev.hash)"]},"branch":"late"}"#,
                               newEdits: false)
                default:
                    try tx.put(id: id, json: #"{"_rev":"\#(winner.rev)","n":\#(index),"pad":"\#(text(&rng))"}"#)
                }
            }
            return changed
        }
    }

    static func randomBytes(_ count: Int, _ rng: inout SeededRandom) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func text(_ rng: inout SeededRandom) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789 ")
        return String((0..<Int.random(in: 10...120, using: &rng)).map { _ in letters[Int.random(in: 0..<letters.count, using: &rng)] })
    }

    static func hex(_ rng: inout SeededRandom) -> String {
        String(format: "%016llx%016llx", rng.next(), rng.next())
    }
}
