/// What merging one revision path into a stored tree changes, found with one indexed lookup
/// per revision of the path instead of loading the tree.
///
/// It follows ``RevisionTree/merge(path:deleted:)`` step by step, so that writing it gives the
/// tree that merging in memory gives. The shapes only a broken or foreign writer produces
/// (more than one leaf or root gaining a parent in one merge) are not planned: ``plan`` returns
/// nil and the caller loads the tree.
struct PathMerge {
    /// A stored revision, as the path walk sees it.
    struct StoredNode: Equatable {
        var row: Int64
        var rev: RevisionID
        var parentHash: String?
        var deleted: Bool
        var leaf: Bool
    }

    /// A revision to insert, with its parent's hash (nil for a root).
    struct NewNode: Equatable {
        var rev: RevisionID
        var parentHash: String?
        /// Its position in the path: 0 is the new leaf.
        var index: Int
    }

    /// The revisions not yet stored, newest first; the first is the new leaf when its index is 0.
    var added: [NewNode] = []
    /// A stored root (the end of a stemmed history) that gains its parent.
    var reparented: (node: StoredNode, parentHash: String)?
    /// The stored leaf that gains a child and so stops being a leaf.
    var demoted: StoredNode?

    /// Walks `path` (newest first, consecutive generations) against the stored tree, looking
    /// each revision up with `lookup`.
    /// - Returns: the plan, or nil for a shape this incremental merge leaves to the in-memory
    ///   merge (the newest revision already stored, several leaves demoted or roots reparented).
    static func plan(_ path: [RevisionID], lookup: (RevisionID) throws -> StoredNode?) rethrows -> PathMerge? {
        var merge = PathMerge()
        for (index, rev) in path.enumerated() {
            let parent = index + 1 < path.count ? path[index + 1] : nil
            guard let existing = try lookup(rev) else {
                merge.added.append(NewNode(rev: rev, parentHash: parent?.hash, index: index))
                continue
            }
            if index == 0 { return nil }
            // A stored revision met after the first one of the path gains a child: a leaf
            // stops being one (and, as an interior revision, counts as live).
            if existing.leaf {
                if merge.demoted != nil { return nil }
                merge.demoted = existing
            }
            if existing.parentHash == nil, let parent {
                if merge.reparented != nil { return nil }
                merge.reparented = (existing, parent.hash)
            } else if existing.parentHash != parent?.hash {
                // The store knows another parent: keep the known history (see RevisionTree.merge).
                break
            }
        }
        return merge
    }
}
