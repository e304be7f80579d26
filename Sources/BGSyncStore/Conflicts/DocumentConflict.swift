import GRDB

/// A leaf that takes part in a conflict, with its content.
public struct ConflictLeaf: Sendable, Equatable {
    /// The leaf's revision.
    public var rev: RevisionID
    /// Whether the leaf is a tombstone (a deletion that conflicts with an edit).
    public var deleted: Bool
    /// The body: a JSON object without metadata, as stored (never re-encoded).
    public var body: String
    /// The leaf's attachments (metadata; the data stays in the store).
    public var attachments: [StoredAttachment]
    /// The leaf and its known ancestors, newest first (what `_revisions` lists).
    public var history: [RevisionID]

    /// Creates a leaf.
    public init(rev: RevisionID, deleted: Bool, body: String, attachments: [StoredAttachment] = [], history: [RevisionID] = []) {
        self.rev = rev
        self.deleted = deleted
        self.body = body
        self.attachments = attachments
        self.history = history.isEmpty ? [rev] : history
    }

    /// Whether `other` was made of the same revision as this leaf (both are first revisions,
    /// or both have the same parent): a deletion and an edit that conflict directly.
    package func isSibling(of other: ConflictLeaf) -> Bool {
        guard rev.generation == other.rev.generation else { return false }
        if rev.generation == 1 { return true }
        guard history.count > 1, other.history.count > 1 else { return false }
        return history[1] == other.history[1]
    }
}

/// A document in conflict: two or more of its leaves take part (see
/// `RevisionTree.conflictingLeaves`).
public struct DocumentConflict: Sendable, Equatable {
    /// The document id.
    public var id: String
    /// The document's update sequence when it was read.
    public var seq: Int
    /// The conflicting leaves in CouchDB's winner order: the current winner first.
    public var leaves: [ConflictLeaf]

    /// Creates a conflict.
    public init(id: String, seq: Int, leaves: [ConflictLeaf]) {
        self.id = id
        self.seq = seq
        self.leaves = leaves
    }
}

extension RevisionTree {
    /// The leaves that take part in a conflict, in winner order: every live leaf, and every
    /// deleted leaf with a live sibling (a leaf with the same parent, or another first
    /// revision): a deletion and an edit made of the same revision. A document is in conflict
    /// when two or more leaves take part; otherwise this is empty.
    ///
    /// Other deleted leaves are closed branches — deletions of losing revisions (the CouchDB way
    /// to resolve a conflict) or old deletions below a re-created document — and never take part.
    package var conflictingLeaves: [Leaf] {
        let leaves = self.leaves
        let liveParents = Set(leaves.filter { !$0.deleted }.map { siblingKey($0.rev) })
        let taking = leaves.filter { !$0.deleted || liveParents.contains(siblingKey($0.rev)) }
        return taking.count >= 2 ? taking : []
    }

    /// What siblings share: the parent, or "no parent" for first revisions. A stemmed root
    /// (no known parent above generation 1) has no sibling.
    func siblingKey(_ rev: RevisionID) -> String {
        if rev.generation == 1 { return "root" }
        guard let parent = nodes[rev]?.parentHash else { return "stemmed:" + rev.description }
        return "\(rev.generation - 1)-" + parent
    }
}

extension StoreReader {
    /// Document `id`'s conflict with the content of each conflicting leaf, or nil when it is
    /// not in conflict (or does not exist).
    public func conflict(of id: String) throws -> DocumentConflict? {
        guard let loaded = try loadTree(id) else { return nil }
        let taking = loaded.tree.conflictingLeaves
        guard !taking.isEmpty else { return nil }
        var leaves: [ConflictLeaf] = []
        for leaf in taking {
            guard let row = loaded.rows[leaf.rev], let stored = try storedRevision(row: row) else {
                throw StoreError(.io, "\(path): the body of leaf \(leaf.rev) of document \(id) is missing")
            }
            leaves.append(ConflictLeaf(rev: leaf.rev, deleted: leaf.deleted, body: stored.body,
                                       attachments: stored.attachments, history: loaded.tree.ancestry(of: leaf.rev)))
        }
        let seq = try Int.fetchOne(db.cachedStatement(sql: "SELECT seq FROM docs WHERE id = ?"), arguments: [id]) ?? 0
        return DocumentConflict(id: id, seq: seq, leaves: leaves)
    }

    /// Documents changed after sequence `since` and at or before `through` that have more than
    /// one leaf (candidates for ``conflict(of:)``), in sequence order, at most `limit`.
    package func documentsWithSeveralLeaves(since: Int, through: Int, limit: Int) throws -> [(id: String, seq: Int)] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT d.id, d.seq FROM docs d
            WHERE d.seq > ? AND d.seq <= ? AND (SELECT count(*) FROM revs r WHERE r.doc_id = d.doc_id AND r.leaf = 1) > 1
            ORDER BY d.seq LIMIT ?
            """), arguments: [since, through, limit]).map { (id: $0[0], seq: $0[1]) }
    }
}
