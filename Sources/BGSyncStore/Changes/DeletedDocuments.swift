import GRDB

/// Queries for the mass-deletion guard: which pending changes are deletions, and which
/// documents are live.
extension StoreReader {
    /// How many documents changed after `since` and have a tombstone as their winning revision:
    /// the deletions a push from `since` would send (an upper bound of what it would delete on
    /// the target). One indexed count; nothing is read.
    package func deletionCount(since: Int) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: """
            SELECT count(*) FROM docs d JOIN revs r ON r.rev_id = d.winner WHERE d.seq > ? AND r.deleted <> 0
            """), arguments: [since]) ?? 0
    }

    /// The ids of those documents, in sequence order, one page at a time: at most `limit`
    /// documents changed after `since`; `lastSeq` is where the next page starts (nil when
    /// there are no more).
    package func deletedDocumentIDs(since: Int, limit: Int) throws -> (ids: [String], lastSeq: Int?) {
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT d.id, d.seq FROM docs d JOIN revs r ON r.rev_id = d.winner
            WHERE d.seq > ? AND r.deleted <> 0 ORDER BY d.seq LIMIT ?
            """), arguments: [since, max(limit, 0)])
        return (rows.map { $0[0] }, rows.last.map { $0[1] })
    }

    /// How many documents have a live winner (CouchDB's `doc_count`).
    package func liveDocumentCount() throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: """
            SELECT count(*) FROM docs d JOIN revs r ON r.rev_id = d.winner WHERE r.deleted = 0
            """)) ?? 0
    }

    /// Which of `ids` name documents with a live winner.
    package func liveDocumentIDs(among ids: [String]) throws -> Set<String> {
        var live = Set<String>()
        let statement = try db.cachedStatement(sql: """
            SELECT 1 FROM docs d JOIN revs r ON r.rev_id = d.winner WHERE d.id = ? AND r.deleted = 0
            """)
        for id in ids where try Int.fetchOne(statement, arguments: [id]) != nil {
            live.insert(id)
        }
        return live
    }
}
