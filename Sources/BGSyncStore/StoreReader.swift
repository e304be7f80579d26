import Foundation
import GRDB

/// Read access to a store inside one transaction (see ``DocumentStore/read(_:)``).
public struct StoreReader {
    let db: Database
    /// The store's file, for error messages.
    public let path: String

    /// Database-wide facts, as `GET /db` would report them.
    public func info() throws -> StoreInfo {
        guard let row = try Row.fetchOne(db, sql: "SELECT uuid, update_seq, revs_limit FROM store_info") else {
            throw StoreError(.notADatabase, "\(path): store_info is empty")
        }
        let counts = try Row.fetchOne(db, sql: """
            SELECT count(*) FILTER (WHERE r.deleted = 0), count(*) FILTER (WHERE r.deleted <> 0)
            FROM docs d JOIN revs r ON r.rev_id = d.winner
            """)
        return StoreInfo(
            path: path, uuid: row[0], updateSeq: row[1], revsLimit: row[2],
            documentCount: counts?[0] ?? 0, deletedDocumentCount: counts?[1] ?? 0)
    }

    /// The sequence of the store's latest change (cheap: no counting).
    public func updateSeq() throws -> Int {
        guard let seq = try Int.fetchOne(db.cachedStatement(sql: "SELECT update_seq FROM store_info")) else {
            throw StoreError(.notADatabase, "\(path): store_info is empty")
        }
        return seq
    }

    /// The store's persistent uuid (cheap: no counting).
    public func uuid() throws -> String {
        guard let uuid = try String.fetchOne(db.cachedStatement(sql: "SELECT uuid FROM store_info")) else {
            throw StoreError(.notADatabase, "\(path): store_info is empty")
        }
        return uuid
    }

    /// The revision tree of document `id`, or nil when the store has never seen it.
    package func tree(of id: String) throws -> RevisionTree? {
        try loadTree(id)?.tree
    }

    struct LoadedTree {
        var docRow: Int64
        var tree: RevisionTree
        var rows: [RevisionID: Int64]
    }

    func loadTree(_ id: String) throws -> LoadedTree? {
        let statement = try db.cachedStatement(sql: """
            SELECT d.doc_id, r.rev_id, r.pos, r.hash, r.parent_hash, r.deleted
            FROM docs d JOIN revs r ON r.doc_id = d.doc_id WHERE d.id = ?
            """)
        // Run for every document a replication writes or diffs: SQLite's API directly.
        let rows = SQLiteStatement(statement)
        rows.bind([.text(id)])
        var loaded: LoadedTree?
        while try rows.step() {
            if loaded == nil { loaded = LoadedTree(docRow: rows.int(0), tree: RevisionTree(), rows: [:]) }
            let rev = RevisionID(trusted: Int(rows.int(2)), hash: rows.text(3) ?? "")
            loaded?.tree.load(rev, parentHash: rows.text(4), deleted: rows.int(5) != 0)
            loaded?.rows[rev] = rows.int(1)
        }
        return loaded
    }

    /// The body and attachments of a stored leaf revision.
    struct StoredRevision {
        var body: String
        var deleted: Bool
        var attachments: [StoredAttachment]
        /// Why the body breaks ``DocumentRules``, when it was checked and does.
        var problem: String? = nil
    }

    /// The body, deleted flag and attachments of the revision in `row`, or nil when it has no
    /// body (not a leaf).
    ///
    /// - Parameter validate: also check the stored body against ``DocumentRules`` (invalid
    ///   UTF-8, too deep, not an object…: written by an older bgsync or a foreign writer) and
    ///   say why it breaks them in ``StoredRevision/problem``. Without it the body is read as
    ///   it is, invalid UTF-8 repaired.
    func storedRevision(row: Int64, validate: Bool = false) throws -> StoredRevision? {
        let statement = SQLiteStatement(try db.cachedStatement(sql: """
            SELECT body, deleted, EXISTS (SELECT 1 FROM rev_attachments WHERE rev_id = ?1) FROM revs WHERE rev_id = ?1
            """))
        statement.bind([.int(row)])
        guard try statement.step(), let bytes = statement.bytes(0) else { return nil }
        let deleted = statement.int(1) != 0
        let hasAttachments = statement.int(2) != 0
        try statement.run()
        return StoredRevision(body: String(decoding: bytes, as: UTF8.self), deleted: deleted,
                              attachments: hasAttachments ? try attachments(ofRevisionRow: row) : [],
                              problem: validate ? DocumentRules.problem(inBody: bytes) : nil)
    }

    func attachments(ofRevisionRow row: Int64) throws -> [StoredAttachment] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT name, content_type, revpos, digest, length FROM rev_attachments WHERE rev_id = ? ORDER BY name
            """), arguments: [row]).map {
            StoredAttachment(name: $0[0], contentType: $0[1], revpos: $0[2], digest: $0[3], length: $0[4])
        }
    }

    /// The data of the attachment with `digest`, whole in memory (see
    /// ``spoolAttachment(digest:in:)`` for data of any size).
    public func attachmentData(digest: String) throws -> [UInt8]? {
        var data: [UInt8] = []
        let found = try AttachmentChunks.forEachChunk(of: digest, db) { data += $0 }
        return found ? data : nil
    }

    /// Copies the data of the attachment with `digest` into a new file in `directory`, one chunk
    /// in memory at a time; nil when the store has no such data.
    package func spoolAttachment(digest: String, in directory: String) throws -> SpoolFile? {
        let writer = try SpoolFile.Writer(in: directory)
        let found = try AttachmentChunks.forEachChunk(of: digest, db) { chunk in try chunk.withUnsafeBytes(writer.append) }
        return found ? try writer.finish() : nil
    }

    /// Document `id` as CouchDB's `GET /db/id` with the same options would print it.
    ///
    /// - Throws: ``StoreError`` `not_found` with reason `missing` (no such document or
    ///   revision) or `deleted` (the winner is a tombstone and no `rev` was asked for).
    public func document(_ id: String, options: DocumentOptions = DocumentOptions()) throws -> String {
        guard let loaded = try loadTree(id) else { throw StoreError.notFound(id, reason: "missing") }
        let leaves = loaded.tree.leaves
        let rev: RevisionID
        if let asked = options.rev {
            rev = asked
        } else {
            guard let winner = leaves.first else { throw StoreError.notFound(id, reason: "missing") }
            if winner.deleted { throw StoreError.notFound(id, reason: "deleted") }
            rev = winner.rev
        }
        guard let row = loaded.rows[rev], let stored = try storedRevision(row: row) else {
            throw StoreError.notFound(id, reason: "missing")
        }
        var meta = DocumentJSON.Metadata()
        if options.revs { meta.revisions = loaded.tree.ancestry(of: rev) }
        if options.rev == nil {
            let losers = leaves.dropFirst()
            if options.conflicts { meta.conflicts = losers.filter { !$0.deleted }.map(\.rev) }
            if options.deletedConflicts { meta.deletedConflicts = losers.filter(\.deleted).map(\.rev) }
        }
        let ancestry = options.attachments.needsAncestry ? loaded.tree.ancestry(of: rev) : []
        return try DocumentJSON.render(
            id: id, rev: rev, revision: stored, metadata: meta,
            attachments: options.attachments, ancestry: ancestry, reader: self)
    }

    /// The result of one requested revision in ``openRevisions(_:revs:latest:attachments:)``.
    public enum OpenRevision: Sendable, Equatable {
        /// The revision as JSON, with `_revisions`.
        case ok(String)
        /// The revision as JSON, with `_revisions`, where these attachments, whose data is
        /// larger than the `inlineLimit` asked for, are entries with `"follows": true`: their
        /// data is to be sent apart (``spoolAttachment(digest:in:)``).
        case okFollowing(String, following: [StoredAttachment])
        /// The revision is not in the store.
        case missing(RevisionID)
        /// The revision is stored, but its body breaks the document rules (written by an older
        /// bgsync or a foreign writer), so it cannot be replicated; `reason` says why.
        case invalid(RevisionID, reason: String)
    }

    /// Revisions of one document with their histories, as
    /// `GET /db/id?open_revs=[…]&revs=true[&latest=true]` answers.
    ///
    /// - Parameters:
    ///   - revs: the revisions to return; nil means every leaf (`open_revs=all`).
    ///   - latest: return the leaves that descend from each requested revision instead of the
    ///     revision itself (as CouchDB's `latest=true`).
    ///   - attachments: inline data, stubs, or data changed since given revisions.
    ///   - inlineLimit: attachment data longer than this is not inlined but announced with
    ///     `"follows": true` (``OpenRevision/okFollowing(_:following:)``).
    public func openRevisions(_ id: String, revs: [RevisionID]?, latest: Bool = false,
                              attachments: AttachmentMode = .stubs, inlineLimit: Int = .max) throws -> [OpenRevision] {
        guard let loaded = try loadTree(id) else {
            return (revs ?? []).map { .missing($0) }
        }
        let leaves = loaded.tree.leaves
        var wanted: [RevisionID] = []
        var wantedSet = Set<RevisionID>()
        var results: [OpenRevision] = []
        if let revs {
            let leafSet = latest ? Set(leaves.map(\.rev)) : []
            for rev in revs {
                if latest, loaded.tree.contains(rev) {
                    // A leaf is its own only descendant leaf (the common request: no walk).
                    let descendants = leafSet.contains(rev) ? [rev]
                        : leaves.filter { loaded.tree.ancestry(of: $0.rev).contains(rev) }.map(\.rev)
                    if descendants.isEmpty { results.append(.missing(rev)) }
                    for leaf in descendants where wantedSet.insert(leaf).inserted { wanted.append(leaf) }
                } else if loaded.rows[rev] != nil {
                    if wantedSet.insert(rev).inserted { wanted.append(rev) }
                } else {
                    results.append(.missing(rev))
                }
            }
        } else {
            wanted = leaves.map(\.rev)
        }
        var found: [OpenRevision] = []
        for rev in wanted {
            guard let row = loaded.rows[rev], let stored = try storedRevision(row: row, validate: true) else {
                found.append(.missing(rev))
                continue
            }
            if let problem = stored.problem {
                found.append(.invalid(rev, reason: problem))
                continue
            }
            var meta = DocumentJSON.Metadata()
            let ancestry = loaded.tree.ancestry(of: rev)
            meta.revisions = ancestry
            var following: [StoredAttachment] = []
            let json = try DocumentJSON.render(id: id, rev: rev, revision: stored, metadata: meta, attachments: attachments,
                                               ancestry: ancestry, reader: self, inlineLimit: inlineLimit, following: &following)
            found.append(following.isEmpty ? .ok(json) : .okFollowing(json, following: following))
        }
        return found + results
    }

    /// Every document's id and winning revision, ordered by id. Deleted documents are left
    /// out unless `includeDeleted`.
    public func allDocuments(includeDeleted: Bool = false) throws -> [DocumentSummary] {
        let sql = """
            SELECT d.id, r.pos, r.hash, r.deleted FROM docs d JOIN revs r ON r.rev_id = d.winner
            \(includeDeleted ? "" : "WHERE r.deleted = 0") ORDER BY d.id
            """
        return try Row.fetchAll(db, sql: sql).map {
            DocumentSummary(id: $0[0], rev: RevisionID(trusted: $0[1], hash: $0[2]), deleted: $0[3])
        }
    }

    /// The ids of every `_local` document, sorted.
    public func localDocumentIDs() throws -> [String] {
        try String.fetchAll(db, sql: "SELECT id FROM local_docs ORDER BY id")
    }

    /// A `_local` document's body (with `_id` and `_rev`), or nil.
    public func localDocument(_ id: String) throws -> String? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT rev, body FROM local_docs WHERE id = ?"), arguments: [id]) else {
            return nil
        }
        let rev: Int = row[0]
        return DocumentJSON.local(id: id, rev: "0-\(rev)", body: row[1])
    }
}

/// Database-wide facts about a store.
public struct StoreInfo: Sendable, Equatable {
    /// The file.
    public var path: String
    /// A random id generated when the store was created; part of replication ids.
    public var uuid: String
    /// The sequence number of the latest change.
    public var updateSeq: Int
    /// How many revisions each branch of a tree keeps.
    public var revsLimit: Int
    /// Documents whose winner is live.
    public var documentCount: Int
    /// Documents whose winner is a tombstone.
    public var deletedDocumentCount: Int
}

/// A document's id and winning revision.
public struct DocumentSummary: Sendable, Equatable {
    /// The document id.
    public var id: String
    /// The winning revision.
    public var rev: RevisionID
    /// Whether the winner is a tombstone.
    public var deleted: Bool
}

/// Options of ``StoreReader/document(_:options:)``, named as CouchDB's query parameters.
public struct DocumentOptions: Sendable {
    /// `rev=`: a specific revision instead of the winner.
    public var rev: RevisionID?
    /// `revs=true`: include `_revisions`.
    public var revs: Bool
    /// `conflicts=true`: include `_conflicts`.
    public var conflicts: Bool
    /// `deleted_conflicts=true`: include `_deleted_conflicts`.
    public var deletedConflicts: Bool
    /// How attachments appear.
    public var attachments: AttachmentMode

    /// Creates options; the defaults match a plain `GET /db/id`.
    public init(rev: RevisionID? = nil, revs: Bool = false, conflicts: Bool = false,
                deletedConflicts: Bool = false, attachments: AttachmentMode = .stubs) {
        self.rev = rev
        self.revs = revs
        self.conflicts = conflicts
        self.deletedConflicts = deletedConflicts
        self.attachments = attachments
    }
}

/// How attachments appear in a document's JSON.
public enum AttachmentMode: Sendable, Equatable {
    /// Stubs: `{"content_type","revpos","digest","length","stub":true}`.
    case stubs
    /// Inline base64 `data` for every attachment (`attachments=true`).
    case data
    /// Inline data only for attachments changed after the newest of these revisions that is an
    /// ancestor of the document's revision (`atts_since=[…]`); stubs for the rest.
    case since([RevisionID])

    var needsAncestry: Bool {
        if case .since = self { return true }
        return false
    }
}
