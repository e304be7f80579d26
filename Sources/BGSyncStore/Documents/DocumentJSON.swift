import Foundation

/// Builds document JSON the way CouchDB orders it: `_id`, `_rev`, the body's members as
/// stored (never re-encoded), `_deleted`, `_revisions`, `_conflicts`, `_deleted_conflicts`,
/// `_attachments`.
enum DocumentJSON {
    struct Metadata {
        var revisions: [RevisionID]?
        var conflicts: [RevisionID]?
        var deletedConflicts: [RevisionID]?
    }

    /// - Parameters:
    ///   - inlineLimit: data longer than this is announced with `"follows": true` and listed in
    ///     `following` instead of being inlined.
    static func render(id: String, rev: RevisionID, revision: StoreReader.StoredRevision, metadata: Metadata,
                       attachments mode: AttachmentMode, ancestry: [RevisionID], reader: StoreReader) throws -> String {
        var following: [StoredAttachment] = []
        return try render(id: id, rev: rev, revision: revision, metadata: metadata, attachments: mode, ancestry: ancestry,
                          reader: reader, inlineLimit: .max, following: &following)
    }

    static func render(id: String, rev: RevisionID, revision: StoreReader.StoredRevision, metadata: Metadata,
                       attachments mode: AttachmentMode, ancestry: [RevisionID], reader: StoreReader,
                       inlineLimit: Int, following: inout [StoredAttachment]) throws -> String {
        var out = "{\"_id\":"
        // Sized once: a large body is not copied again as the text grows.
        out.reserveCapacity(revision.body.utf8.count + id.utf8.count + 64 * (metadata.revisions?.count ?? 0) + 256)
        JSONString.append(id, to: &out)
        out += ",\"_rev\":"
        JSONString.append(rev.description, to: &out)
        let members = innerMembers(of: revision.body)
        if !members.isEmpty {
            out += ","
            out += members
        }
        if revision.deleted { out += ",\"_deleted\":true" }
        if let revisions = metadata.revisions, let newest = revisions.first {
            out += ",\"_revisions\":{\"start\":\(newest.generation),\"ids\":["
            appendList(revisions.map(\.hash), to: &out)
            out += "]}"
        }
        if let conflicts = metadata.conflicts, !conflicts.isEmpty {
            out += ",\"_conflicts\":["
            appendList(conflicts.map(\.description), to: &out)
            out += "]"
        }
        if let deleted = metadata.deletedConflicts, !deleted.isEmpty {
            out += ",\"_deleted_conflicts\":["
            appendList(deleted.map(\.description), to: &out)
            out += "]"
        }
        if !revision.attachments.isEmpty {
            let sincePosition = dataSincePosition(mode: mode, ancestry: ancestry)
            out += ",\"_attachments\":{"
            for (index, attachment) in revision.attachments.enumerated() {
                if index > 0 { out += "," }
                attachment.appendEntryStart(to: &out)
                if let since = sincePosition, attachment.revpos > since, attachment.length > inlineLimit {
                    out += ",\"length\":\(attachment.length),\"follows\":true"
                    following.append(attachment)
                } else if let since = sincePosition, attachment.revpos > since {
                    guard let data = try reader.attachmentData(digest: attachment.digest) else {
                        throw StoreError.missingAttachmentData(reader.path, attachment, documentID: id)
                    }
                    out += ",\"data\":\""
                    out += Data(data).base64EncodedString()
                    out += "\""
                } else {
                    out += ",\"length\":\(attachment.length),\"stub\":true"
                }
                out += "}"
            }
            out += "}"
        }
        out += "}"
        return out
    }

    /// The generation after which attachments are sent with data, or nil for stubs only.
    static func dataSincePosition(mode: AttachmentMode, ancestry: [RevisionID]) -> Int? {
        switch mode {
        case .stubs: return nil
        case .data: return 0
        case .since(let revs):
            let known = Set(revs)
            return ancestry.first(where: { known.contains($0) })?.generation ?? 0
        }
    }

    static func local(id: String, rev: String, body: String) -> String {
        var out = "{\"_id\":"
        JSONString.append(id, to: &out)
        out += ",\"_rev\":"
        JSONString.append(rev, to: &out)
        let members = innerMembers(of: body)
        if !members.isEmpty { out += "," + members }
        return out + "}"
    }

    /// The text between the outer braces of a JSON object, trimmed; empty for `{}`.
    static func innerMembers(of body: String) -> Substring {
        let utf8 = body.utf8
        guard let open = utf8.firstIndex(of: UInt8(ascii: "{")), let close = utf8.lastIndex(of: UInt8(ascii: "}")), open < close else {
            return ""
        }
        var inner = Substring(body)[body.index(after: open)..<close]
        while let first = inner.utf8.first, isWhitespace(first) { inner = inner.dropFirst() }
        while let last = inner.utf8.last, isWhitespace(last) { inner = inner.dropLast() }
        return inner
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    static func appendList(_ strings: [String], to out: inout String) {
        for (index, string) in strings.enumerated() {
            if index > 0 { out += "," }
            JSONString.append(string, to: &out)
        }
    }
}
