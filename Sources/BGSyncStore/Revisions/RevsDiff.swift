/// The answer of `_revs_diff` for one document.
public struct RevsDiffEntry: Sendable, Equatable {
    /// The asked revisions the store does not have.
    public var missing: [RevisionID]
    /// The store's leaves whose generation is below the highest missing one: revisions the
    /// missing ones may descend from (used as `atts_since`).
    public var possibleAncestors: [RevisionID]

    /// Creates an entry.
    public init(missing: [RevisionID], possibleAncestors: [RevisionID]) {
        self.missing = missing
        self.possibleAncestors = possibleAncestors
    }
}

extension StoreReader {
    /// CouchDB's `_revs_diff`: for each document, which of the given revisions are missing.
    /// Documents with nothing missing are left out of the result.
    public func revsDiff(_ request: [(id: String, revs: [RevisionID])]) throws -> [(id: String, entry: RevsDiffEntry)] {
        var result: [(id: String, entry: RevsDiffEntry)] = []
        for (id, revs) in request {
            let tree = try loadTree(id)?.tree ?? RevisionTree()
            var missing: [RevisionID] = []
            var seen = Set<RevisionID>()
            for rev in revs where !tree.contains(rev) && seen.insert(rev).inserted { missing.append(rev) }
            guard let highest = missing.map(\.generation).max() else { continue }
            let ancestors = tree.leaves.map(\.rev).filter { $0.generation < highest }
            result.append((id, RevsDiffEntry(missing: missing, possibleAncestors: ancestors)))
        }
        return result
    }

    /// Documents that have conflicts: their winner and losing leaves.
    public func conflicts() throws -> [ConflictSummary] {
        let ids = try String.fetchAll(db, sql: """
            SELECT d.id FROM docs d WHERE (SELECT count(*) FROM revs r WHERE r.doc_id = d.doc_id AND r.leaf = 1) > 1 ORDER BY d.id
            """)
        return try ids.compactMap { id in
            guard let leaves = try loadTree(id)?.tree.leaves, let winner = leaves.first else { return nil }
            let losers = leaves.dropFirst()
            return ConflictSummary(id: id, winner: winner.rev, winnerDeleted: winner.deleted,
                                   conflicts: losers.filter { !$0.deleted }.map(\.rev),
                                   deletedConflicts: losers.filter(\.deleted).map(\.rev))
        }
    }
}

/// A document with more than one leaf.
public struct ConflictSummary: Sendable, Equatable {
    /// The document id.
    public var id: String
    /// The winning revision.
    public var winner: RevisionID
    /// Whether the winner is a tombstone.
    public var winnerDeleted: Bool
    /// Live losing leaves (`_conflicts`).
    public var conflicts: [RevisionID]
    /// Deleted losing leaves (`_deleted_conflicts`).
    public var deletedConflicts: [RevisionID]
}
