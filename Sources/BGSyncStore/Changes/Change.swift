import GRDB

/// One row of the changes feed: a document at its latest change.
public struct Change: Sendable, Equatable {
    /// The update sequence of the document's latest change.
    public var seq: Int
    /// The document id.
    public var id: String
    /// Whether the winning revision is a tombstone.
    public var deleted: Bool
    /// Every leaf (CouchDB's `style=all_docs`), winner first.
    public var leaves: [RevisionID]
}

extension StoreReader {
    /// The changes feed: each document once, at its latest change, in sequence order, for
    /// changes after `since`, at most `limit` rows.
    public func changes(since: Int = 0, limit: Int? = nil) throws -> [Change] {
        let statement = try db.cachedStatement(sql: """
            SELECT d.id, d.seq, r.pos, r.hash, r.deleted, r.rev_id = d.winner
            FROM (SELECT doc_id, id, seq, winner FROM docs WHERE seq > ? ORDER BY seq LIMIT ?) d
            JOIN revs r ON r.doc_id = d.doc_id AND r.leaf = 1
            ORDER BY d.seq
            """)
        var changes: [Change] = []
        var leaves: [RevisionTree.Leaf] = []
        var winnerDeleted = false
        func flush() {
            guard var change = changes.popLast() else { return }
            change.leaves = leaves.sorted(by: RevisionTree.winsOver).map(\.rev)
            change.deleted = winnerDeleted
            changes.append(change)
        }
        let rows = try Row.fetchCursor(statement, arguments: [since, limit ?? -1])
        while let row = try rows.next() {
            let seq: Int = row[1]
            if changes.last?.seq != seq {
                flush()
                changes.append(Change(seq: seq, id: row[0], deleted: false, leaves: []))
                leaves = []
            }
            let deleted: Bool = row[4]
            leaves.append(RevisionTree.Leaf(rev: RevisionID(trusted: row[2], hash: row[3]), deleted: deleted))
            if row[5] as Bool { winnerDeleted = deleted }
        }
        flush()
        return changes
    }

    /// How many documents changed after `since` (the rows the changes feed would list), without
    /// reading them: CouchDB's `pending`.
    public func changeCount(since: Int) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM docs WHERE seq > ?"), arguments: [since]) ?? 0
    }
}
