/// The revision tree of one document, as CouchDB defines it (`couch_key_tree`).
///
/// A tree is a set of revisions linked child → parent. It may have several roots: a history
/// that shares nothing with the known one, or the remains of stemming. Leaves are the
/// revisions without children; the winner is picked among them deterministically, so that every
/// replica holding the same tree shows the same document.
///
/// This is a value with no I/O; ``DocumentStore`` loads a tree, changes it and writes back the
/// difference.
package struct RevisionTree: Sendable, Equatable {
    /// One revision in the tree.
    package struct Node: Sendable, Equatable {
        /// The parent's hash (its generation is one less), or nil for a root.
        package var parentHash: String?
        /// Whether this revision is a deletion (tombstone); interior revisions count as live.
        package var deleted: Bool
    }

    /// A leaf with its deletion state, in the order of ``RevisionTree/leaves``.
    package struct Leaf: Sendable, Equatable {
        /// The leaf's revision id.
        package let rev: RevisionID
        /// Whether the leaf is a tombstone.
        package let deleted: Bool
    }

    /// Every revision of the tree.
    package private(set) var nodes: [RevisionID: Node] = [:]

    /// An empty tree.
    package init() {}

    /// Whether the tree holds `rev`.
    package func contains(_ rev: RevisionID) -> Bool { nodes[rev] != nil }

    /// Whether the tree holds no revision.
    package var isEmpty: Bool { nodes.isEmpty }

    /// Adds a revision with a known parent (or as a root), replacing nothing that exists.
    /// Used when loading a stored tree.
    mutating func load(_ rev: RevisionID, parentHash: String?, deleted: Bool) {
        nodes[rev] = Node(parentHash: parentHash, deleted: deleted)
    }

    /// The parent of `rev`, if the tree knows it.
    package func parent(of rev: RevisionID) -> RevisionID? {
        guard let node = nodes[rev], let hash = node.parentHash, rev.generation > 1 else { return nil }
        return RevisionID(trusted: rev.generation - 1, hash: hash)
    }

    /// What a merge changed.
    package struct MergeResult: Sendable, Equatable {
        /// Revisions that were not in the tree before.
        package var added: [RevisionID] = []
        /// Revisions that existed as roots (stemmed) and gained their parent.
        package var reparented: [RevisionID] = []
        /// Whether anything changed.
        package var changed: Bool { !added.isEmpty || !reparented.isEmpty }
    }

    /// Merges a revision path into the tree, as CouchDB does for `new_edits: false`.
    ///
    /// - Parameters:
    ///   - path: the revision and its ancestors, newest first, with consecutive generations
    ///     (the expansion of a `_revisions` object).
    ///   - deleted: whether the newest revision of the path is a tombstone.
    /// - Returns: what was added. Revisions already in the tree are left as they are: merging
    ///   the same path twice changes nothing, and merge order does not matter.
    @discardableResult
    package mutating func merge(path: [RevisionID], deleted: Bool) -> MergeResult {
        var result = MergeResult()
        for (index, rev) in path.enumerated() {
            let parent = index + 1 < path.count ? path[index + 1] : nil
            // Only leaves carry a deletion state that matters; an interior revision is kept as
            // live so that trees merged in any order are equal.
            if index > 0, nodes[rev]?.deleted == true { nodes[rev]?.deleted = false }
            if var existing = nodes[rev] {
                if existing.parentHash == nil, let parent {
                    existing.parentHash = parent.hash
                    nodes[rev] = existing
                    result.reparented.append(rev)
                } else if existing.parentHash != parent?.hash {
                    // The tree already knows this revision's parent, and the path names another
                    // (only a broken or hostile peer sends that): keep the known history; the
                    // path's older revisions would hang off nothing as leaves without bodies.
                    break
                }
            } else {
                nodes[rev] = Node(parentHash: parent?.hash, deleted: index == 0 ? deleted : false)
                result.added.append(rev)
            }
        }
        return result
    }

    /// Expands `_revisions`-style history into a path, newest first.
    package static func path(start: Int, ids: [String]) throws(StoreError) -> [RevisionID] {
        guard !ids.isEmpty else {
            throw StoreError(.invalidRevision, "_revisions.ids must not be empty")
        }
        guard start >= ids.count else {
            throw StoreError(.invalidRevision, "_revisions.start (\(start)) must be at least the number of ids (\(ids.count)): generations start at 1")
        }
        var path: [RevisionID] = []
        path.reserveCapacity(ids.count)
        for (offset, hash) in ids.enumerated() {
            path.append(try RevisionID(generation: start - offset, hash: hash))
        }
        return path
    }

    /// The revisions without children, winner first, then in CouchDB's order:
    /// live before deleted, then higher generation, then greater hash.
    package var leaves: [Leaf] {
        var hasChild = Set<RevisionID>()
        hasChild.reserveCapacity(nodes.count)
        for (rev, node) in nodes {
            if let hash = node.parentHash, rev.generation > 1 {
                hasChild.insert(RevisionID(trusted: rev.generation - 1, hash: hash))
            }
        }
        return nodes.compactMap { rev, node in hasChild.contains(rev) ? nil : Leaf(rev: rev, deleted: node.deleted) }
            .sorted(by: Self.winsOver)
    }

    /// The winning leaf, or nil for an empty tree.
    package var winner: Leaf? { leaves.first }

    /// CouchDB's winner order: a live leaf beats a deleted one, then the higher generation,
    /// then the bytewise greater hash.
    package static func winsOver(_ a: Leaf, _ b: Leaf) -> Bool {
        if a.deleted != b.deleted { return !a.deleted }
        return b.rev < a.rev
    }

    /// `rev` and its known ancestors, newest first (what `_revisions` lists).
    package func ancestry(of rev: RevisionID, limit: Int = .max) -> [RevisionID] {
        var path: [RevisionID] = []
        var current: RevisionID? = nodes[rev] == nil ? nil : rev
        while let revision = current, path.count < limit {
            path.append(revision)
            current = parent(of: revision)
            if let next = current, nodes[next] == nil { current = nil }
        }
        return path
    }

    /// Stems the tree so that no path from a leaf towards its root holds more than `limit`
    /// revisions, as CouchDB does with `revs_limit`. Stemming may split a tree into several
    /// roots.
    /// - Returns: the revisions removed.
    @discardableResult
    package mutating func stem(limit: Int) -> [RevisionID] {
        guard limit > 0, nodes.count > limit else { return [] }
        var keep = Set<RevisionID>()
        for leaf in leaves {
            for rev in ancestry(of: leaf.rev, limit: limit) { keep.insert(rev) }
        }
        let removed = nodes.keys.filter { !keep.contains($0) }
        for rev in removed { nodes[rev] = nil }
        if !removed.isEmpty {
            for (rev, node) in nodes where node.parentHash != nil {
                if let parent = parent(of: rev), nodes[parent] == nil {
                    nodes[rev]?.parentHash = nil
                }
            }
        }
        return removed
    }
}
