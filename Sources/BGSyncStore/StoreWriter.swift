import Foundation
import GRDB

/// Write access to a store inside one transaction (see ``DocumentStore/write(_:)``).
public struct StoreWriter {
    let db: Database
    /// The store's file, for error messages.
    public let path: String
    /// What one transaction reads once (see ``DocumentStore/write(_:)``).
    let cache = TransactionCache()

    /// Values read once per transaction: nothing else writes to the store while it holds
    /// the write lock, and ``setRevsLimit(_:)`` updates it.
    final class TransactionCache {
        var revsLimit: Int?
    }

    init(db: Database, path: String) {
        self.db = db
        self.path = path
    }

    /// Reads within the same transaction (seeing this transaction's writes).
    public var reader: StoreReader { StoreReader(db: db, path: path) }

    /// Stores a JSON document, as `PUT /db/id` (`newEdits: true`) or one element of
    /// `_bulk_docs` with `new_edits: false` does.
    ///
    /// - Parameters:
    ///   - id: the document id; if nil, the JSON's `_id` is used. `_local/` ids are refused:
    ///     use ``putLocal(id:json:)``.
    ///   - json: a JSON object; its `_rev` is the base revision (`newEdits: true`) or the
    ///     revision itself with `_revisions` as its history (`newEdits: false`).
    /// - Returns: the stored revision.
    @discardableResult
    public func put(id: String? = nil, json: String, newEdits: Bool = true) throws -> RevisionID {
        try save(IncomingDocument(json: Array(json.utf8)), id: id, newEdits: newEdits)
    }

    /// Stores a parsed document; see ``put(id:json:newEdits:)``.
    @discardableResult
    package func save(_ document: IncomingDocument, id explicitID: String? = nil, newEdits: Bool = true) throws -> RevisionID {
        let id = try Self.resolveID(explicitID, document.id)
        if id.hasPrefix("_local/") {
            throw StoreError.invalidDocument(id, "_local documents have no revision tree; write them with putLocal(id:json:)")
        }
        return newEdits ? try saveEdit(document, id: id) : try saveReplicated(document, id: id).rev
    }

    /// What storing a replicated revision did.
    package struct ReplicatedWrite: Sendable, Equatable {
        /// The revision.
        package var rev: RevisionID
        /// Whether it was new to the store.
        package var added: Bool
        /// Whether the document went from one live leaf (or none) to several: a new conflict.
        package var createdConflict: Bool
    }

    /// Stores a revision as `_bulk_docs` with `new_edits: false` does, reporting whether it
    /// created a conflict (for the replicator's counters).
    @discardableResult
    package func saveReplicated(_ document: IncomingDocument, id explicitID: String? = nil) throws -> ReplicatedWrite {
        let id = try Self.resolveID(explicitID, document.id)
        if id.hasPrefix("_local/") {
            throw StoreError.invalidDocument(id, "_local documents have no revision tree; write them with putLocal(id:json:)")
        }
        return try saveReplicated(document, id: id)
    }

    static func resolveID(_ explicit: String?, _ inBody: String?) throws -> String {
        if let explicit, let inBody, explicit != inBody {
            throw StoreError.invalidDocument(explicit, "the body's _id \"\(inBody)\" differs from the document id")
        }
        guard let id = explicit ?? inBody else {
            throw StoreError.invalidDocument(nil, "the document has no id: give one, or an \"_id\" member")
        }
        try validateID(id)
        return id
    }

    /// CouchDB's rules: a non-empty id that starts with `_` only as `_design/` or `_local/`.
    static func validateID(_ id: String) throws {
        guard !id.isEmpty else { throw StoreError.invalidDocument(nil, "document id must not be empty") }
        if id.hasPrefix("_") && !id.hasPrefix("_design/") && !id.hasPrefix("_local/") {
            throw StoreError.invalidDocument(id, "only reserved document ids may start with underscore (_design/…, _local/…)")
        }
        if id.utf8.contains(0) { throw StoreError.invalidDocument(nil, "document id must not contain NUL") }
    }

    /// Deletes document `id` by adding a tombstone on `rev` (the current winner if nil).
    @discardableResult
    public func delete(id: String, rev: RevisionID? = nil) throws -> RevisionID {
        try Self.validateID(id)
        var base = rev
        if base == nil {
            guard let winner = try reader.documentHead(id)?.winner else { throw StoreError.notFound(id, reason: "missing") }
            if winner.deleted { throw StoreError.notFound(id, reason: "deleted") }
            base = winner.rev
        }
        return try saveEdit(IncomingDocument(rev: base, deleted: true, body: "{}", attachments: nil), id: id)
    }

    // MARK: Normal edits

    /// A normal edit: a new revision on top of `document.rev` (or of a deleted winner, or a
    /// first revision), written with indexed look-ups (see ``storeMerge(id:head:path:content:)``).
    private func saveEdit(_ document: IncomingDocument, id: String) throws -> RevisionID {
        let head = try reader.documentHead(id)
        guard head == nil || head?.winner != nil else { return try saveEditLoadingTree(document, id: id) }
        let parent: PathMerge.StoredNode?
        if let base = document.rev {
            guard let head, let winner = head.winner else {
                throw StoreError.conflict(id, "the document does not exist; omit _rev to create it")
            }
            guard let node = try reader.storedNode(docRow: head.docRow, base), node.leaf else {
                throw StoreError.conflict(id, "\(base) is not a current revision (the winner is \(winner.rev))")
            }
            parent = node
        } else if let winner = head?.winner {
            guard winner.deleted else {
                throw StoreError.conflict(id, "the document exists (at \(winner.rev)); give its _rev to update it")
            }
            parent = winner
        } else {
            parent = nil
        }
        let parentAttachments = try parent.map { try reader.attachments(ofRevisionRow: $0.row) } ?? []
        let generation = (parent?.rev.generation ?? 0) + 1
        let attachments = try resolveEditAttachments(document.attachments, parent: parentAttachments, generation: generation, id: id)
        let rev = try RevisionID(generation: generation, hash: Self.newHash(parent: parent?.rev, deleted: document.deleted, body: document.body, attachments: attachments))
        let content = (rev, StoreReader.StoredRevision(body: document.body, deleted: document.deleted, attachments: attachments.map(\.stored)),
                       attachments.compactMap(\.newData))
        guard try storeMerge(id: id, head: head, path: [rev] + (parent.map { [$0.rev] } ?? []), content: content) != nil else {
            return try saveEditLoadingTree(document, id: id)
        }
        return rev
    }

    /// ``saveEdit(_:id:)`` on the whole tree loaded in memory, for the shapes the indexed path
    /// leaves to it.
    private func saveEditLoadingTree(_ document: IncomingDocument, id: String) throws -> RevisionID {
        let loaded = try reader.loadTree(id)
        let tree = loaded?.tree ?? RevisionTree()
        let leaves = tree.leaves
        let parent: RevisionID?
        if let base = document.rev {
            guard leaves.contains(where: { $0.rev == base }) else {
                if tree.isEmpty {
                    throw StoreError.conflict(id, "the document does not exist; omit _rev to create it")
                }
                throw StoreError.conflict(id, "\(base) is not a current revision (the winner is \(leaves.first?.rev.description ?? "none"))")
            }
            parent = base
        } else if let winner = leaves.first {
            guard winner.deleted else {
                throw StoreError.conflict(id, "the document exists (at \(winner.rev)); give its _rev to update it")
            }
            parent = winner.rev
        } else {
            parent = nil
        }
        let parentAttachments = try parent.flatMap { loaded?.rows[$0] }.map { try reader.attachments(ofRevisionRow: $0) } ?? []
        let generation = (parent?.generation ?? 0) + 1
        let attachments = try resolveEditAttachments(document.attachments, parent: parentAttachments, generation: generation, id: id)
        let rev = try RevisionID(generation: generation, hash: Self.newHash(parent: parent, deleted: document.deleted, body: document.body, attachments: attachments))
        var newTree = tree
        newTree.merge(path: [rev] + (parent.map { [$0] } ?? []), deleted: document.deleted)
        try persist(id: id, loaded: loaded, oldLeaves: leaves, newTree: newTree,
                    content: (rev, StoreReader.StoredRevision(body: document.body, deleted: document.deleted, attachments: attachments.map(\.stored)),
                              attachments.compactMap(\.newData)))
        return rev
    }

    /// A deterministic revision hash: the same edit of the same parent gives the same id
    /// everywhere, so identical edits made on two replicas do not conflict.
    static func newHash(parent: RevisionID?, deleted: Bool, body: String, attachments: [ResolvedAttachment]) -> String {
        var hasher = MD5Hasher()
        hasher.update(Array((parent?.description ?? "").utf8))
        hasher.update([0, deleted ? 1 : 0, 0])
        hasher.update(Array(body.utf8))
        for attachment in attachments {
            hasher.update([0])
            hasher.update(Array(attachment.stored.name.utf8))
            hasher.update([0])
            hasher.update(Array(attachment.stored.digest.utf8))
        }
        return MD5.hex(hasher.finalize())
    }

    struct ResolvedAttachment {
        var stored: StoredAttachment
        var newData: (digest: String, data: AttachmentBytes)?
    }

    /// The data an incoming attachment carries (inline, or spooled when it follows); nil for a
    /// stub.
    /// - Throws: ``StoreError`` `invalidDocument` for data that follows but never came, or
    ///   whose length is not the one announced.
    private static func incomingData(_ attachment: IncomingAttachment, id: String) throws -> AttachmentBytes? {
        if let data = attachment.data { return .memory(data) }
        guard attachment.follows else { return nil }
        guard let file = attachment.spooled else {
            throw StoreError.invalidDocument(id, "_attachments.\(attachment.name): \"follows\": true, but its data did not come with the document")
        }
        if let length = attachment.length, length != file.length {
            throw StoreError.invalidDocument(id, "_attachments.\(attachment.name): \(file.length) bytes arrived, \"length\" says \(length)")
        }
        return .spooled(file)
    }

    private func resolveEditAttachments(_ incoming: [IncomingAttachment]?, parent: [StoredAttachment], generation: Int, id: String) throws -> [ResolvedAttachment] {
        guard let incoming else { return [] }
        return try incoming.map { attachment in
            if let data = try Self.incomingData(attachment, id: id) {
                let digest = try data.digest()
                return ResolvedAttachment(
                    stored: StoredAttachment(name: attachment.name, contentType: attachment.contentType, revpos: generation, digest: digest, length: data.count),
                    newData: (digest, data))
            }
            guard let previous = parent.first(where: { $0.name == attachment.name }),
                  attachment.digest == nil || attachment.digest == previous.digest
            else {
                throw StoreError(.missingStub, "document \"\(id)\": attachment stub \(attachment.name) does not match an attachment of the base revision; send its data", reason: "missing_stub")
            }
            return ResolvedAttachment(stored: previous, newData: nil)
        }
    }

    // MARK: Replicated revisions

    private func saveReplicated(_ document: IncomingDocument, id: String) throws -> ReplicatedWrite {
        let path = try Self.replicatedPath(document, id: id)
        let head = try reader.documentHead(id)
        guard head == nil || head?.winner != nil else { return try saveReplicatedLoadingTree(document, id: id) }
        if let head, try reader.storedNode(docRow: head.docRow, path[0]) != nil {
            return ReplicatedWrite(rev: path[0], added: false, createdConflict: false)
        }
        let attachments = try resolveReplicatedAttachments(document.attachments, generation: path[0].generation, id: id)
        let content = (path[0], StoreReader.StoredRevision(body: document.body, deleted: document.deleted, attachments: attachments.map(\.stored)),
                       attachments.compactMap(\.newData))
        guard let stored = try storeMerge(id: id, head: head, path: path, content: content) else {
            return try saveReplicatedLoadingTree(document, id: id)
        }
        return ReplicatedWrite(rev: path[0], added: true, createdConflict: stored.createdConflict)
    }

    static func replicatedPath(_ document: IncomingDocument, id: String) throws -> [RevisionID] {
        if let revisions = document.revisions {
            return revisions
        } else if let rev = document.rev {
            return [rev]
        }
        throw StoreError.invalidDocument(id, "When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
    }

    /// ``saveReplicated(_:id:)`` on the whole tree loaded in memory, for the shapes the indexed
    /// path leaves to it.
    private func saveReplicatedLoadingTree(_ document: IncomingDocument, id: String) throws -> ReplicatedWrite {
        let path = try Self.replicatedPath(document, id: id)
        let loaded = try reader.loadTree(id)
        var newTree = loaded?.tree ?? RevisionTree()
        guard !newTree.contains(path[0]) else { return ReplicatedWrite(rev: path[0], added: false, createdConflict: false) }
        let oldLeaves = newTree.leaves
        newTree.merge(path: path, deleted: document.deleted)
        let attachments = try resolveReplicatedAttachments(document.attachments, generation: path[0].generation, id: id)
        let newLeaves = try persist(id: id, loaded: loaded, oldLeaves: oldLeaves, newTree: newTree,
                                    content: (path[0], StoreReader.StoredRevision(body: document.body, deleted: document.deleted, attachments: attachments.map(\.stored)),
                                              attachments.compactMap(\.newData)))
        let liveBefore = oldLeaves.count { !$0.deleted }
        let liveAfter = newLeaves.count { !$0.deleted }
        return ReplicatedWrite(rev: path[0], added: true, createdConflict: liveAfter > 1 && liveAfter > liveBefore)
    }

    private func resolveReplicatedAttachments(_ incoming: [IncomingAttachment]?, generation: Int, id: String) throws -> [ResolvedAttachment] {
        guard let incoming else { return [] }
        return try incoming.map { attachment in
            if let data = try Self.incomingData(attachment, id: id) {
                let digest = try attachment.digest ?? data.digest()
                return ResolvedAttachment(
                    stored: StoredAttachment(name: attachment.name, contentType: attachment.contentType,
                                             revpos: attachment.revpos ?? generation, digest: digest, length: data.count),
                    newData: (digest, data))
            }
            guard let digest = attachment.digest,
                  try AttachmentChunks.contains(digest, db),
                  let known = try Row.fetchOne(db.cachedStatement(sql: "SELECT length FROM rev_attachments WHERE digest = ? LIMIT 1"),
                                               arguments: [digest])
            else {
                throw StoreError(.missingStub, "document \"\(id)\": attachment stub \(attachment.name) (\(attachment.digest ?? "no digest")) refers to data this store does not have; send its data", reason: "missing_stub")
            }
            return ResolvedAttachment(
                stored: StoredAttachment(name: attachment.name, contentType: attachment.contentType,
                                         revpos: attachment.revpos ?? generation, digest: digest, length: attachment.length ?? known[0]),
                newData: nil)
        }
    }

    // MARK: Persisting a changed tree

    /// Writes the difference between the loaded tree (whose leaves are `oldLeaves`) and
    /// `newTree` after stemming, with the content of one new revision.
    /// - Returns: the leaves of the stored tree, winner first.
    @discardableResult
    private func persist(id: String, loaded: StoreReader.LoadedTree?, oldLeaves: [RevisionTree.Leaf], newTree: RevisionTree,
                         content: (rev: RevisionID, revision: StoreReader.StoredRevision, blobs: [(digest: String, data: AttachmentBytes)])) throws -> [RevisionTree.Leaf] {
        var tree = newTree
        tree.stem(limit: try revsLimit())
        let docRow = try recordChange(id: id, docRow: loaded?.docRow)
        let oldTree = loaded?.tree ?? RevisionTree()
        let oldRows = loaded?.rows ?? [:]
        var rows = oldRows
        let leaves = tree.leaves
        let newLeaves = Set(leaves.map(\.rev))
        // New revisions and their attachments go in first: removing or demoting an old leaf
        // (below) deletes its attachments, and with them (trigger rev_attachments_unreferenced)
        // any data no other revision refers to yet — such as the data a stub carries over.
        let insertRevision = try db.cachedStatement(sql: """
            INSERT INTO revs (doc_id, pos, hash, parent_hash, deleted, leaf, body) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for (rev, node) in tree.nodes where rows[rev] == nil {
            let insert = SQLiteStatement(insertRevision)
            try insert.run(binding: [.int(docRow), .int(Int64(rev.generation)), .text(rev.hash), .optional(node.parentHash), .bool(node.deleted),
                                     .bool(newLeaves.contains(rev)), rev == content.rev ? .text(content.revision.body) : .null])
            rows[rev] = db.lastInsertedRowID
        }
        if let contentRow = rows[content.rev], newLeaves.contains(content.rev) {
            try insertAttachments(of: content.revision, blobs: content.blobs, row: contentRow)
        }
        for (rev, row) in oldRows where !tree.contains(rev) {
            try db.cachedStatement(sql: "DELETE FROM revs WHERE rev_id = ?").execute(arguments: [row])
            rows[rev] = nil
        }
        let oldLeafRevs = Set(oldLeaves.map(\.rev))
        for (rev, row) in oldRows where tree.contains(rev) {
            if tree.nodes[rev]?.parentHash != oldTree.nodes[rev]?.parentHash {
                try db.cachedStatement(sql: "UPDATE revs SET parent_hash = ? WHERE rev_id = ?").execute(arguments: [tree.nodes[rev]?.parentHash, row])
            }
            if oldLeafRevs.contains(rev) && !newLeaves.contains(rev) {
                try db.cachedStatement(sql: "UPDATE revs SET leaf = 0, deleted = 0, body = NULL WHERE rev_id = ?").execute(arguments: [row])
            }
        }
        guard let winner = leaves.first, let winnerRow = rows[winner.rev] else {
            throw StoreError(.io, "\(path): document \(id) has no winning revision after a write")
        }
        let setWinner = SQLiteStatement(try db.cachedStatement(sql: "UPDATE docs SET winner = ? WHERE doc_id = ?"))
        setWinner.bind([.int(winnerRow), .int(docRow)])
        try setWinner.run()
        return leaves
    }

    /// Gives the document the store's next update sequence, creating its row if `docRow` is nil.
    /// - Returns: the document's row.
    func recordChange(id: String, docRow: Int64?) throws -> Int64 {
        // The statements run for every document use SQLite's API directly (SQLiteStatement).
        let nextSeq = SQLiteStatement(try db.cachedStatement(sql: "UPDATE store_info SET update_seq = update_seq + 1 RETURNING update_seq"))
        guard try nextSeq.step() else { throw StoreError(.io, "\(path): store_info is empty") }
        let seq = nextSeq.int(0)
        try nextSeq.run()
        if let docRow {
            let update = SQLiteStatement(try db.cachedStatement(sql: "UPDATE docs SET seq = ? WHERE doc_id = ?"))
            update.bind([.int(seq), .int(docRow)])
            try update.run()
            return docRow
        }
        let insert = SQLiteStatement(try db.cachedStatement(sql: "INSERT INTO docs (id, seq) VALUES (?, ?)"))
        insert.bind([.text(id), .int(seq)])
        try insert.run()
        return db.lastInsertedRowID
    }

    /// Stores the attachments of a new leaf revision in `row`, with the data not yet stored.
    func insertAttachments(of revision: StoreReader.StoredRevision, blobs: [(digest: String, data: AttachmentBytes)], row: Int64) throws {
        for blob in blobs {
            try AttachmentChunks.insert(blob.data, digest: blob.digest, db)
        }
        for attachment in revision.attachments {
            try db.cachedStatement(sql: """
                INSERT INTO rev_attachments (rev_id, name, content_type, revpos, digest, length) VALUES (?, ?, ?, ?, ?, ?)
                """).execute(arguments: [row, attachment.name, attachment.contentType, attachment.revpos, attachment.digest, attachment.length])
        }
    }

    /// The store's `revs_limit`, read once per transaction.
    func revsLimit() throws -> Int {
        if let limit = cache.revsLimit { return limit }
        let limit = try Int.fetchOne(db.cachedStatement(sql: "SELECT revs_limit FROM store_info")) ?? 1000
        cache.revsLimit = limit
        return limit
    }

    // MARK: Local documents

    /// Writes a `_local` document (no tree, never replicated). `id` includes the `_local/`
    /// prefix. Like CouchDB 3, the `_rev` of the body is not checked.
    /// - Returns: the new revision, `0-N`.
    @discardableResult
    public func putLocal(id: String, json: String) throws -> String {
        guard id.hasPrefix("_local/"), id.count > 7 else {
            throw StoreError.invalidDocument(id, "local document ids start with _local/")
        }
        let bytes = Array(json.utf8)
        let members: [RawJSONMember]
        do {
            members = try RawJSONObject.members(ofObject: bytes)
        } catch {
            throw StoreError.invalidDocument(id, "the body is not a JSON object: \(error)")
        }
        let body = "{" + members.filter { $0.key != "_id" && $0.key != "_rev" }
            .map { String(decoding: bytes[$0.keyRange.lowerBound..<$0.valueRange.upperBound], as: UTF8.self) }
            .joined(separator: ",") + "}"
        let rev = (try Int.fetchOne(db.cachedStatement(sql: "SELECT rev FROM local_docs WHERE id = ?"), arguments: [id]) ?? 0) + 1
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO local_docs (id, rev, body) VALUES (?, ?, ?)").execute(arguments: [id, rev, body])
        return "0-\(rev)"
    }

    /// Deletes a `_local` document; returns whether it existed.
    @discardableResult
    public func deleteLocal(id: String) throws -> Bool {
        try db.cachedStatement(sql: "DELETE FROM local_docs WHERE id = ?").execute(arguments: [id])
        return db.changesCount > 0
    }

    /// Sets how many revisions each branch keeps (CouchDB's `_revs_limit`); applies to later
    /// writes of each document.
    public func setRevsLimit(_ limit: Int) throws {
        guard limit > 0 else { throw StoreError.invalidDocument(nil, "revs_limit must be a positive integer") }
        try db.execute(sql: "UPDATE store_info SET revs_limit = ?", arguments: [limit])
        cache.revsLimit = limit
    }
}
