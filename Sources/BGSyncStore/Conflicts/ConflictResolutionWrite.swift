/// How a conflict is settled (see ``StoreWriter/resolveConflict(id:_:expecting:)``).
public enum ConflictResolution: Sendable, Equatable {
    /// Keep this conflicting leaf: every other live leaf gets a tombstone. Keeping a deleted
    /// leaf deletes the document (every live leaf gets a tombstone).
    case keep(RevisionID)
    /// A merged body (a JSON object without `_` members): a new revision holding it on top of
    /// the current winner (keeping the winner's attachments), and a tombstone on every other
    /// live leaf.
    case merge(body: String)
}

/// What writing a resolution did.
public struct ResolvedConflict: Sendable, Equatable {
    /// The document's winner afterwards.
    public var winner: RevisionID
    /// Whether the document is deleted afterwards.
    public var deleted: Bool
    /// The revisions written (tombstones and the new revision, if any); empty when the
    /// document was no longer in conflict.
    public var written: [RevisionID]
}

extension StoreWriter {
    /// Writes a resolution the CouchDB way, inside this transaction: a tombstone on top of
    /// every live leaf that loses, and a new revision only where one is needed — for a merged
    /// body that differs from the winner's, and on a kept live leaf whose sibling is a deletion
    /// (otherwise the deletion would still conflict with it).
    ///
    /// Every revision id is computed from the parent and the content (as every edit in this
    /// store), so two replicas that resolve the same conflict the same way write the same
    /// revisions, and their trees merge without a new conflict.
    ///
    /// - Parameter expecting: the conflicting leaves the resolution was decided on; when the
    ///   document's differ (someone wrote in between) nothing is written and a `conflict`
    ///   error is thrown.
    /// - Throws: ``StoreError`` `not_found` for a missing document, `conflict` when it has no
    ///   conflict or changed, `bad_request` for a revision that does not take part or a body
    ///   that is not a JSON object.
    @discardableResult
    public func resolveConflict(id: String, _ resolution: ConflictResolution, expecting: [RevisionID]? = nil) throws -> ResolvedConflict {
        guard let tree = try reader.tree(of: id) else { throw StoreError.notFound(id, reason: "missing") }
        guard let conflict = try reader.conflict(of: id) else {
            throw StoreError.conflict(id, "it has no conflicting revisions")
        }
        if let expecting, Set(expecting) != Set(conflict.leaves.map(\.rev)) {
            throw StoreError.conflict(id, "its revisions changed while the conflict was being resolved")
        }
        let live = conflict.leaves.filter { !$0.deleted }
        /// Whether a deletion takes part as the sibling of `leaf`.
        func hasDeletedSibling(_ leaf: ConflictLeaf) -> Bool {
            conflict.leaves.contains { $0.deleted && tree.siblingKey($0.rev) == tree.siblingKey(leaf.rev) }
        }
        var written: [RevisionID] = []
        var kept: RevisionID?
        switch resolution {
        case .keep(let rev):
            guard let chosen = conflict.leaves.first(where: { $0.rev == rev }) else {
                throw StoreError.invalidDocument(id, "\(rev) is not one of its conflicting revisions (\(conflict.leaves.map(\.rev.description).joined(separator: ", ")))")
            }
            if !chosen.deleted {
                kept = rev
                if hasDeletedSibling(chosen) {
                    written.append(try save(Self.edit(of: chosen, body: chosen.body), id: id))
                }
            }
        case .merge(let text):
            let body = try Self.mergedBody(text, id: id)
            guard let base = live.first else { throw StoreError.conflict(id, "it has no live revision to merge into") }
            kept = base.rev
            if body != base.body || hasDeletedSibling(base) {
                written.append(try save(Self.edit(of: base, body: body), id: id))
            }
        }
        for leaf in live where leaf.rev != kept {
            written.append(try delete(id: id, rev: leaf.rev))
        }
        guard let winner = try reader.tree(of: id)?.winner else { throw StoreError.notFound(id, reason: "missing") }
        return ResolvedConflict(winner: winner.rev, deleted: winner.deleted, written: written)
    }

    /// A new revision on top of `leaf` holding `body` and the leaf's attachments (as stubs).
    static func edit(of leaf: ConflictLeaf, body: String) -> IncomingDocument {
        IncomingDocument(rev: leaf.rev, body: body, attachments: leaf.attachments.map {
            IncomingAttachment(name: $0.name, contentType: $0.contentType, revpos: $0.revpos, digest: $0.digest, length: $0.length, data: nil)
        })
    }

    /// A merged body as the store keeps bodies (members as written, joined by commas), refusing
    /// anything but a JSON object without `_` members.
    static func mergedBody(_ text: String, id: String) throws -> String {
        let bytes = Array(text.utf8)
        let members: [RawJSONMember]
        do {
            members = try RawJSONObject.members(ofObject: bytes)
        } catch {
            throw StoreError.invalidDocument(id, "the merged body is not a JSON object: \(error)")
        }
        if let reserved = members.first(where: { $0.key.hasPrefix("_") }) {
            throw StoreError.invalidDocument(id, "the merged body has the member \(reserved.key); members starting with _ are CouchDB metadata")
        }
        return "{" + members.map { String(decoding: bytes[$0.keyRange.lowerBound..<$0.valueRange.upperBound], as: UTF8.self) }
            .joined(separator: ",") + "}"
    }
}
