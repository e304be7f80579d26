/// Writing a new revision without loading its document's tree.
///
/// A write adds one leaf and perhaps some of its ancestors (a `_revisions` history). Loading,
/// stemming and re-reading the whole tree for that made every write cost as much as the tree
/// is large, so that building a document with many conflicts or a long history took quadratic
/// time. Here a write costs one indexed look-up per revision of the written path, plus a few
/// per document, however large the tree:
///
/// * the merge is planned by looking each revision of the path up (``PathMerge``);
/// * stemming is needed only when the tree spans more than `revs_limit` generations
///   (its lowest and highest generations are two index searches); a single chain is then
///   stemmed by generation with one range delete; any other tree that may need stemming is
///   left to the in-memory merge (``RevisionTree``), as are shapes only broken writers make;
/// * the winner follows from the old winner and the new leaf, except when a deletion lands on a
///   live winner: then the stored leaves are searched once.
///
/// The result is the tree, winner and conflicts that ``RevisionTree/merge(path:deleted:)`` and
/// ``RevisionTree/stem(limit:)`` give (tested against them on random trees).
extension StoreWriter {
    /// What an incremental merge stored.
    struct StoredMerge {
        /// The document's winner afterwards.
        var winner: PathMerge.StoredNode
        /// Whether the write took the document from at most one live leaf to more.
        var createdConflict: Bool
    }

    /// Merges `path` (newest first; its first revision not yet stored) into the stored tree of
    /// `id`, with `content` as the new leaf's revision.
    /// - Parameter head: the document's row and winner, nil for a new document.
    /// - Returns: nil, having written nothing, when the write needs the whole tree.
    func storeMerge(id: String, head: StoreReader.DocumentHead?, path: [RevisionID],
                    content: (rev: RevisionID, revision: StoreReader.StoredRevision, blobs: [(digest: String, data: AttachmentBytes)])) throws -> StoredMerge? {
        let limit = try revsLimit()
        let newLeaf = path[0]
        let merge: PathMerge
        // Revisions of this generation or lower are stemmed away (0: none).
        var cutoff = 0
        if let head {
            guard let oldWinner = head.winner, oldWinner.leaf,
                  let planned = try PathMerge.plan(path, lookup: { try reader.storedNode(docRow: head.docRow, $0) }),
                  let span = try reader.generationSpan(docRow: head.docRow)
            else { return nil }
            merge = planned
            let lowest = min(span.lowerBound, merge.added.last?.rev.generation ?? .max)
            let highest = max(span.upperBound, newLeaf.generation)
            // Within `limit` generations, every leaf's history is within `limit` revisions:
            // stemming removes nothing.
            if highest - lowest + 1 > limit {
                let leavesAfter = try reader.leafCountUpToTwo(docRow: head.docRow) + 1 - (merge.demoted == nil ? 0 : 1)
                // One leaf: the tree is one chain, and stemming keeps its newest `limit`
                // generations. Several: which revisions another leaf keeps needs the tree.
                guard leavesAfter == 1 else { return nil }
                cutoff = newLeaf.generation - limit
            }
        } else {
            // A new document: the path is the tree, one chain.
            var planned = PathMerge()
            for (index, rev) in path.enumerated() {
                planned.added.append(PathMerge.NewNode(rev: rev, parentHash: index + 1 < path.count ? path[index + 1].hash : nil, index: index))
            }
            merge = planned
            if path.count > limit { cutoff = newLeaf.generation - limit }
        }

        let docRow = try recordChange(id: id, docRow: head?.docRow)
        // New revisions and their attachments go in first: demoting the old leaf (below) deletes
        // its attachments, and with them (trigger rev_attachments_unreferenced) any data no
        // other revision refers to yet — such as the data a stub carries over.
        let insertRevision = try db.cachedStatement(sql: """
            INSERT INTO revs (doc_id, pos, hash, parent_hash, deleted, leaf, body) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        var leafRow: Int64?
        for node in merge.added where node.rev.generation > cutoff {
            let isLeaf = node.index == 0
            let insert = SQLiteStatement(insertRevision)
            try insert.run(binding: [.int(docRow), .int(Int64(node.rev.generation)), .text(node.rev.hash),
                                     node.rev.generation - 1 > cutoff ? .optional(node.parentHash) : .null,
                                     .bool(isLeaf && content.revision.deleted), .bool(isLeaf), isLeaf ? .text(content.revision.body) : .null])
            if isLeaf { leafRow = db.lastInsertedRowID }
        }
        guard let leafRow else { throw StoreError(.io, "\(self.path): document \(id): the new revision \(newLeaf) was not written") }
        try insertAttachments(of: content.revision, blobs: content.blobs, row: leafRow)
        if let reparented = merge.reparented, reparented.node.rev.generation - 1 > cutoff {
            let update = SQLiteStatement(try db.cachedStatement(sql: "UPDATE revs SET parent_hash = ? WHERE rev_id = ?"))
            update.bind([.text(reparented.parentHash), .int(reparented.node.row)])
            try update.run()
        }
        if let demoted = merge.demoted {
            let update = SQLiteStatement(try db.cachedStatement(sql: "UPDATE revs SET leaf = 0, deleted = 0, body = NULL WHERE rev_id = ?"))
            update.bind([.int(demoted.row)])
            try update.run()
        }
        if cutoff > 0 {
            let remove = SQLiteStatement(try db.cachedStatement(sql: "DELETE FROM revs WHERE doc_id = ? AND pos <= ?"))
            remove.bind([.int(docRow), .int(Int64(cutoff))])
            try remove.run()
            let newRoot = SQLiteStatement(try db.cachedStatement(sql: """
                UPDATE revs SET parent_hash = NULL WHERE doc_id = ? AND pos = ? AND parent_hash IS NOT NULL
                """))
            newRoot.bind([.int(docRow), .int(Int64(cutoff + 1))])
            try newRoot.run()
        }

        let leaf = PathMerge.StoredNode(row: leafRow, rev: newLeaf, parentHash: nil, deleted: content.revision.deleted, leaf: true)
        var winner = leaf
        if let oldWinner = head?.winner {
            if merge.demoted?.row == oldWinner.row {
                // The new leaf descends from the old winner, so its generation is higher: it wins
                // unless it is a deletion on a live winner, when another live leaf may win.
                if leaf.deleted && !oldWinner.deleted {
                    winner = try reader.bestLeaf(docRow: docRow) ?? leaf
                }
            } else if !RevisionTree.winsOver(RevisionTree.Leaf(rev: leaf.rev, deleted: leaf.deleted),
                                             RevisionTree.Leaf(rev: oldWinner.rev, deleted: oldWinner.deleted)) {
                winner = oldWinner
            }
        }
        let setWinner = SQLiteStatement(try db.cachedStatement(sql: "UPDATE docs SET winner = ? WHERE doc_id = ?"))
        setWinner.bind([.int(winner.row), .int(docRow)])
        try setWinner.run()
        // A new live leaf that replaced no live leaf, next to an existing live one.
        let liveBefore = head?.winner.map { !$0.deleted } ?? false
        let replacedLive = merge.demoted.map { !$0.deleted } ?? false
        return StoredMerge(winner: winner, createdConflict: !leaf.deleted && liveBefore && !replacedLive)
    }
}
