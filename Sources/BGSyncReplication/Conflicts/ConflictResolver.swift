import BGSyncStore

/// Decides how a document in conflict is settled. The replicator asks it after the pull and
/// before the push, for every document of the local store in conflict, and writes its answer
/// the CouchDB way (``StoreWriter/resolveConflict(id:_:expecting:)``), so the push sends the
/// resolution and every replica ends with the same tree.
///
/// For replicas to agree, a resolver should decide from the conflict alone (the same conflict
/// gives the same answer on every device), as ``BuiltInConflictResolver/deterministic`` does.
///
/// ```swift
/// /// Keeps the winner's fields and adds the loser's "tags".
/// struct TagsMerger: ConflictResolver {
///     let name = "tags-merger"
///     func resolve(_ conflict: Conflict) async throws -> ConflictResolution {
///         var merged = try JSONValue.parse(conflict.winner.body).objectValue ?? JSONObject()
///         …
///         return .merge(body: JSONValue.object(merged).serialized)
///     }
/// }
/// configuration.conflictResolver = TagsMerger()
/// ```
public protocol ConflictResolver: Sendable {
    /// A short name for logs and messages (`deterministic`, `exec /usr/local/bin/merge`).
    var name: String { get }
    /// Whether the resolver uses ``Conflict/isOnRemote(_:)``: the replicator then asks the
    /// remote which conflicting leaves it has (one `_revs_diff` request per batch of
    /// conflicts). False by default.
    var needsOrigin: Bool { get }
    /// Decides one conflict: keep one of ``Conflict/leaves`` or give a merged body. Throw to
    /// leave the document in conflict: the run logs a warning with its id, counts it as
    /// unresolved, goes on with the other documents and asks again in the next run.
    func resolve(_ conflict: Conflict) async throws -> ConflictResolution
}

extension ConflictResolver {
    /// False: the resolver decides from the leaves alone.
    public var needsOrigin: Bool { false }
}

/// A document in conflict as a resolver sees it.
public struct Conflict: Sendable, Equatable {
    /// The document id.
    public var id: String
    /// The conflicting leaves (see ``RevisionTree/conflictingLeaves``) with bodies and
    /// attachment stubs, in CouchDB's winner order: `leaves[0]` is the current winner.
    /// Always at least two.
    public var leaves: [ConflictLeaf]
    /// The leaves the remote has, when the resolver asked (``ConflictResolver/needsOrigin``).
    public var remoteRevisions: Set<RevisionID>?

    /// Creates a conflict.
    public init(id: String, leaves: [ConflictLeaf], remoteRevisions: Set<RevisionID>? = nil) {
        self.id = id
        self.leaves = leaves
        self.remoteRevisions = remoteRevisions
    }

    /// The current winner (CouchDB's rule: live before deleted, then the higher generation,
    /// then the greater revision id).
    public var winner: ConflictLeaf { leaves[0] }

    /// Whether the remote has leaf `rev` (it came from the remote, or was pushed there
    /// before); nil when the resolver did not ask.
    public func isOnRemote(_ rev: RevisionID) -> Bool? {
        remoteRevisions.map { $0.contains(rev) }
    }
}

/// The resolvers a factory names: `remote-wins`, `local-wins` and `deterministic`.
public struct BuiltInConflictResolver: ConflictResolver, Equatable {
    /// A built-in rule.
    public enum Rule: String, Sendable, CaseIterable {
        /// The leaf the remote has wins (the remote's winner among the conflicting leaves it
        /// has); when it has all of them or none, the current winner.
        case remoteWins = "remote-wins"
        /// The leaf only this store has (an edit not pushed yet) wins; when the remote has all
        /// of them or none, the current winner.
        case localWins = "local-wins"
        /// Couchbase Lite's default rule on the tree alone: a deletion wins over an edit of the
        /// same revision; otherwise the longer history (higher generation), then the greater
        /// revision id.
        case deterministic
    }

    /// The rule.
    public var rule: Rule

    /// Creates a resolver for `rule`.
    public init(_ rule: Rule) { self.rule = rule }

    /// See ``Rule/remoteWins``.
    public static let remoteWins = BuiltInConflictResolver(.remoteWins)
    /// See ``Rule/localWins``.
    public static let localWins = BuiltInConflictResolver(.localWins)
    /// See ``Rule/deterministic``.
    public static let deterministic = BuiltInConflictResolver(.deterministic)

    public var name: String { rule.rawValue }

    public var needsOrigin: Bool { rule != .deterministic }

    public func resolve(_ conflict: Conflict) async throws -> ConflictResolution {
        .keep(choose(conflict))
    }

    /// The leaf this rule keeps.
    package func choose(_ conflict: Conflict) -> RevisionID {
        switch rule {
        case .deterministic:
            return Self.deterministicChoice(conflict.leaves)
        case .remoteWins, .localWins:
            let wanted = rule == .remoteWins
            let side = conflict.leaves.filter { (conflict.isOnRemote($0.rev) ?? false) == wanted }
            // Leaves are in winner order: the first of a side is that side's winner.
            return (side.first ?? conflict.winner).rev
        }
    }

    /// A deletion beats its live siblings (an edit of the revision it deleted); among the live
    /// leaves left, the highest generation, then the greatest revision id; when no live leaf
    /// is left, the greatest deletion (the document stays deleted).
    static func deterministicChoice(_ leaves: [ConflictLeaf]) -> RevisionID {
        let deletions = leaves.filter(\.deleted)
        let standing = leaves.filter { leaf in !leaf.deleted && !deletions.contains { $0.isSibling(of: leaf) } }
        let ordered = { (a: ConflictLeaf, b: ConflictLeaf) in b.rev < a.rev }
        if let live = standing.sorted(by: ordered).first { return live.rev }
        return (deletions.sorted(by: ordered).first ?? leaves[0]).rev
    }
}
