import BGSyncStore

/// Writes documents the way CouchDB would, on top of ``StoreWriter``: attachment data gets
/// CouchDB's digest (see ``AttachmentDigest``).
///
/// For replicated writes (`new_edits: false`) the digest only fills in one the writer left
/// out. For normal edits that carry attachment data of a compressible type, the store would
/// compute a plain MD5, so the fixture makes the edit itself: it checks the base revision as
/// CouchDB does (409 on a stale or missing `_rev`), copies stubs from the parent, names the new
/// revision, and stores it as a replicated revision with its full history.
extension Routes {
    static func save(_ document: IncomingDocument, id: String, newEdits: Bool, writer: StoreWriter) throws -> RevisionID {
        guard let attachments = document.attachments, attachments.contains(where: { $0.data != nil }) else {
            return try writer.save(document, id: id, newEdits: newEdits)
        }
        var document = document
        if !newEdits {
            document.attachments = attachments.map { attachment in
                guard let data = attachment.data, attachment.digest == nil else { return attachment }
                var filled = attachment
                filled.digest = AttachmentDigest.couchDB(data, contentType: attachment.contentType)
                return filled
            }
            return try writer.save(document, id: id, newEdits: false)
        }
        guard attachments.contains(where: { $0.data != nil && AttachmentDigest.isCompressible($0.contentType) }) else {
            return try writer.save(document, id: id, newEdits: true)
        }
        return try saveEditWithDigests(document, id: id, writer: writer)
    }

    private static func saveEditWithDigests(_ document: IncomingDocument, id: String, writer: StoreWriter) throws -> RevisionID {
        let tree = try writer.reader.tree(of: id) ?? RevisionTree()
        let leaves = tree.leaves
        let parent: RevisionID?
        if let base = document.rev {
            guard leaves.contains(where: { $0.rev == base }) else { throw FixtureError.conflict }
            parent = base
        } else if let winner = leaves.first {
            guard winner.deleted else { throw FixtureError.conflict }
            parent = winner.rev
        } else {
            parent = nil
        }
        let generation = (parent?.generation ?? 0) + 1
        var parentStubs: [String: JSONValue] = [:]
        if let parent {
            let json = try writer.reader.document(id, options: DocumentOptions(rev: parent))
            for member in JSONText.member("_attachments", in: json)?.objectValue?.members ?? [] {
                parentStubs[member.key] = member.value
            }
        }
        var resolved: [IncomingAttachment] = []
        for attachment in document.attachments ?? [] {
            if let data = attachment.data {
                resolved.append(IncomingAttachment(
                    name: attachment.name, contentType: attachment.contentType, revpos: generation,
                    digest: AttachmentDigest.couchDB(data, contentType: attachment.contentType), length: data.count, data: data))
            } else {
                guard let stub = parentStubs[attachment.name], let digest = stub["digest"]?.stringValue,
                      attachment.digest == nil || attachment.digest == digest
                else {
                    throw FixtureError(412, "missing_stub", "Invalid attachment stub in \(id) for \(attachment.name)")
                }
                resolved.append(IncomingAttachment(
                    name: attachment.name, contentType: stub["content_type"]?.stringValue ?? attachment.contentType,
                    revpos: stub["revpos"]?.intValue, digest: digest, length: stub["length"]?.intValue, data: nil))
            }
        }
        var hasher = MD5Hasher()
        hasher.update(Array((parent?.description ?? "").utf8))
        hasher.update([0, document.deleted ? 1 : 0, 0])
        hasher.update(Array(document.body.utf8))
        for attachment in resolved {
            hasher.update(Array(("\u{0}" + attachment.name + "\u{0}" + (attachment.digest ?? "")).utf8))
        }
        let rev = try RevisionID(generation: generation, hash: hasher.finalizeHex())
        var replicated = document
        replicated.rev = rev
        replicated.revisions = [rev] + (parent.map { tree.ancestry(of: $0) } ?? [])
        replicated.attachments = resolved
        return try writer.save(replicated, id: id, newEdits: false)
    }
}
