/// Indexed look-ups into one document's stored tree, for writes that change a few revisions
/// without loading the tree (see ``StoreWriter``'s incremental path). Each costs a B-tree
/// search, whatever the size of the tree, except ``bestLeaf(docRow:)``.
extension StoreReader {
    /// A document's row and its winning revision (nil if the row has none).
    struct DocumentHead {
        var docRow: Int64
        var winner: PathMerge.StoredNode?
    }

    func documentHead(_ id: String) throws -> DocumentHead? {
        let statement = SQLiteStatement(try db.cachedStatement(sql: """
            SELECT d.doc_id, r.rev_id, r.pos, r.hash, r.parent_hash, r.deleted, r.leaf
            FROM docs d LEFT JOIN revs r ON r.rev_id = d.winner AND r.doc_id = d.doc_id WHERE d.id = ?
            """))
        statement.bind([.text(id)])
        guard try statement.step() else { return nil }
        var head = DocumentHead(docRow: statement.int(0), winner: nil)
        if let hash = statement.text(3) {
            head.winner = PathMerge.StoredNode(row: statement.int(1), rev: RevisionID(trusted: Int(statement.int(2)), hash: hash),
                                               parentHash: statement.text(4), deleted: statement.int(5) != 0, leaf: statement.int(6) != 0)
        }
        try statement.run()
        return head
    }

    /// The stored revision `rev` of the document in `docRow`, if any.
    func storedNode(docRow: Int64, _ rev: RevisionID) throws -> PathMerge.StoredNode? {
        let statement = SQLiteStatement(try db.cachedStatement(sql: """
            SELECT rev_id, parent_hash, deleted, leaf FROM revs WHERE doc_id = ? AND pos = ? AND hash = ?
            """))
        statement.bind([.int(docRow), .int(Int64(rev.generation)), .text(rev.hash)])
        guard try statement.step() else { return nil }
        let node = PathMerge.StoredNode(row: statement.int(0), rev: rev, parentHash: statement.text(1),
                                        deleted: statement.int(2) != 0, leaf: statement.int(3) != 0)
        try statement.run()
        return node
    }

    /// The lowest and highest generation stored for the document in `docRow` (two index
    /// searches), or nil when it has no revision.
    func generationSpan(docRow: Int64) throws -> ClosedRange<Int>? {
        let statement = SQLiteStatement(try db.cachedStatement(sql: """
            SELECT (SELECT min(pos) FROM revs WHERE doc_id = ?1), (SELECT max(pos) FROM revs WHERE doc_id = ?1)
            """))
        statement.bind([.int(docRow)])
        guard try statement.step(), !statement.isNull(0), !statement.isNull(1) else { return nil }
        let span = Int(statement.int(0))...Int(statement.int(1))
        try statement.run()
        return span
    }

    /// How many leaves the document in `docRow` has, counting no further than 2.
    func leafCountUpToTwo(docRow: Int64) throws -> Int {
        let statement = SQLiteStatement(try db.cachedStatement(sql: """
            SELECT count(*) FROM (SELECT 1 FROM revs WHERE doc_id = ? AND leaf = 1 LIMIT 2)
            """))
        statement.bind([.int(docRow)])
        guard try statement.step() else { return 0 }
        let count = Int(statement.int(0))
        try statement.run()
        return count
    }

    /// The winning leaf of the document in `docRow` by CouchDB's order (live before deleted,
    /// then higher generation, then greater hash bytewise), read from the stored leaves. This
    /// one visits every leaf.
    func bestLeaf(docRow: Int64) throws -> PathMerge.StoredNode? {
        let statement = SQLiteStatement(try db.cachedStatement(sql: """
            SELECT rev_id, pos, hash, parent_hash, deleted FROM revs WHERE doc_id = ? AND leaf = 1
            ORDER BY deleted, pos DESC, hash DESC LIMIT 1
            """))
        statement.bind([.int(docRow)])
        guard try statement.step() else { return nil }
        let node = PathMerge.StoredNode(row: statement.int(0), rev: RevisionID(trusted: Int(statement.int(1)), hash: statement.text(2) ?? ""),
                                        parentHash: statement.text(3), deleted: statement.int(4) != 0, leaf: true)
        try statement.run()
        return node
    }
}
