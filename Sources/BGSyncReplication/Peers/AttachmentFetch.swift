import BGSyncStore
import Foundation

/// Brings the attachment data a target lacks to revisions fetched from a server with stubs
/// only, so that memory never holds more than a bounded amount of it:
///
/// * which data is needed follows CouchDB's own `atts_since` rule: attachments whose `revpos`
///   is newer than the newest of the target's possible ancestors in the revision's history;
/// * documents whose needed data is small (each attachment up to
///   ``FetchedRevision/inlineAttachmentLimit``, all together up to four times that) are fetched
///   again with the data inline, several per request;
/// * the data of the other documents goes to files (``SpoolFile``), one `GET
///   /db/id/attachment?rev=` per attachment, read a piece at a time: now for the first
///   ``HTTPPeer/spoolBytesPerBatch`` of the batch (at least one document), just before each is
///   written for the rest (``FetchedRevision/deferredData``).
///
/// A revision that has gone from the server meanwhile (compacted, or its attachment changed
/// under a newer revision) is left out, as a `_bulk_get` error is: the newer revision comes
/// with a later change.
struct AttachmentFetch {
    let peer: HTTPPeer

    /// Bytes of inline attachment data asked for in one request.
    static let inlineBytesPerRequest = 8 << 20

    /// An attachment whose data the target needs.
    struct Needed: Equatable {
        var name: String
        var length: Int
    }

    func complete(_ fetched: [FetchedRevision], requests: [RevisionRequest]) async throws -> [FetchedRevision] {
        var attsSince: [String: [RevisionID]] = [:]
        for request in requests { attsSince[request.id, default: []] += request.attsSince }
        var result: [FetchedRevision?] = fetched
        var inline: [(index: Int, rev: RevisionID, bytes: Int)] = []
        let limit = FetchedRevision.inlineAttachmentLimit
        var budget = SpoolBudget(limit: peer.spoolBytesPerBatch)
        for (index, revision) in fetched.enumerated() where revision.refusal == nil {
            guard let (rev, needed) = try Self.neededData(revision, attsSince: attsSince[revision.id] ?? []), !needed.isEmpty else { continue }
            let total = needed.reduce(0) { $0 + $1.length }
            if needed.allSatisfy({ $0.length <= limit }) && total <= 4 * limit {
                inline.append((index, rev, total))
            } else if budget.admit(total) {
                result[index] = try await spool(revision, rev: rev, needed)
            } else {
                var deferred = revision
                let fetch = self
                deferred.deferredData = { try await fetch.spool(revision, rev: rev, needed) }
                result[index] = deferred
            }
        }
        var group: [(index: Int, rev: RevisionID, bytes: Int)] = []
        var groupBytes = 0
        for entry in inline {
            if !group.isEmpty && groupBytes + entry.bytes > Self.inlineBytesPerRequest {
                try await refetch(group, attsSince: attsSince, into: &result)
                group = []
                groupBytes = 0
            }
            group.append(entry)
            groupBytes += entry.bytes
        }
        if !group.isEmpty { try await refetch(group, attsSince: attsSince, into: &result) }
        return result.compactMap { $0 }
    }

    /// Fetches the revisions again with their data inline; each takes the place of its stub
    /// form, or is left out when the server no longer has that very revision.
    private func refetch(_ group: [(index: Int, rev: RevisionID, bytes: Int)], attsSince: [String: [RevisionID]],
                         into result: inout [FetchedRevision?]) async throws {
        let requests = group.compactMap { entry in
            result[entry.index].map { RevisionRequest(id: $0.id, revs: [entry.rev], attsSince: attsSince[$0.id] ?? []) }
        }
        var byRevision: [String: FetchedRevision] = [:]
        for revision in try await peer.fetchRevisions(requests, attachmentData: true) {
            if let rev = revision.refusal == nil ? Self.revision(of: revision) : nil {
                byRevision[revision.id + "\u{0}" + rev.description] = revision
            }
        }
        for entry in group {
            guard let id = result[entry.index]?.id else { continue }
            result[entry.index] = byRevision[id + "\u{0}" + entry.rev.description]
        }
    }

    /// Downloads the needed attachments of `revision` to files; nil when the server no longer
    /// has one of them. A revision whose attachment the server declares with another length
    /// than its stub's is refused on its own (every later request would get the same answer):
    /// the rest of the batch is replicated.
    private func spool(_ revision: FetchedRevision, rev: RevisionID, _ needed: [Needed]) async throws -> FetchedRevision? {
        var revision = revision
        for attachment in needed {
            let path = CouchClient.documentPath(revision.id) + "/" + CouchClient.encodeQuery(attachment.name)
            let context = "GET \(peer.displayName)\(path)"
            let response = try await peer.client.download(path, query: [("rev", rev.description)], into: peer.spoolDirectory,
                                                          expectedLength: attachment.length)
            if response.status == 404 { return nil }
            try peer.check(response, context)
            if let declared = response.declaredLength {
                return .refused(id: revision.id, rev: rev.description,
                                reason: "the server sends attachment \(attachment.name) as \(declared) bytes (Content-Length), its stub says \(attachment.length)")
            }
            guard let file = response.spooled else {
                throw ReplicationError(.malformedResponse, "\(context): no attachment data")
            }
            revision.spooled[attachment.name] = file
        }
        return revision
    }

    /// The revision's `_rev` and the attachments whose data the target needs (stubs newer than
    /// the newest of `attsSince` in its history); nil when it has no attachments.
    static func neededData(_ revision: FetchedRevision, attsSince: [RevisionID]) throws -> (RevisionID, [Needed])? {
        guard Self.mentionsAttachments(revision.json) else { return nil }
        let context = "document \(revision.id)"
        var rev: RevisionID?
        var ancestry: [RevisionID] = []
        var attachments: JSONObject?
        do {
            for member in try RawJSONObject.members(ofObject: revision.json) {
                switch member.key {
                case "_rev":
                    rev = try JSONValue.parse(Array(revision.json[member.valueRange])).stringValue.flatMap { try? RevisionID(parsing: $0) }
                case "_revisions":
                    let value = try JSONValue.parse(Array(revision.json[member.valueRange]))
                    if let start = value["start"]?.intValue, let ids = value["ids"]?.arrayValue?.compactMap(\.stringValue) {
                        ancestry = (try? RevisionTree.path(start: start, ids: ids)) ?? []
                    }
                case "_attachments":
                    attachments = try JSONValue.parse(Array(revision.json[member.valueRange])).objectValue
                default:
                    continue
                }
            }
        } catch {
            throw ReplicationError(.malformedResponse, "\(context): \(error)")
        }
        guard let attachments else { return nil }
        guard let rev else { throw ReplicationError(.malformedResponse, "\(context): no valid _rev") }
        let since: Int
        if attsSince.isEmpty {
            since = 0
        } else {
            let known = Set(attsSince)
            since = ancestry.first(where: { known.contains($0) })?.generation ?? 0
        }
        var needed: [Needed] = []
        for (name, entry) in attachments.members where entry["stub"]?.boolValue == true {
            guard (entry["revpos"]?.intValue ?? Int.max) > since else { continue }
            guard let length = entry["length"]?.intValue, length >= 0 else {
                throw ReplicationError(.malformedResponse, "\(context): attachment \(name) has no length")
            }
            needed.append(Needed(name: name, length: length))
        }
        return (rev, needed)
    }

    /// `_rev` of a fetched revision.
    static func revision(of revision: FetchedRevision) -> RevisionID? {
        guard let members = try? RawJSONObject.members(ofObject: revision.json),
              let member = members.first(where: { $0.key == "_rev" }),
              let text = try? JSONValue.parse(Array(revision.json[member.valueRange])).stringValue
        else { return nil }
        return try? RevisionID(parsing: text)
    }

    private static let attachmentsKey = Array(#""_attachments""#.utf8)

    /// Whether the JSON contains `"_attachments"` at all (most documents do not, and are not
    /// parsed further). Every document of a pull passes here: `memchr` to each quote, then one
    /// comparison.
    static func mentionsAttachments(_ json: [UInt8]) -> Bool {
        let key = attachmentsKey
        return json.withUnsafeBytes { raw in
            key.withUnsafeBytes { pattern in
                guard let base = raw.baseAddress, let wanted = pattern.baseAddress else { return false }
                var offset = 0
                while raw.count - offset >= pattern.count {
                    guard let hit = memchr(base + offset, Int32(UInt8(ascii: "\"")), raw.count - offset - pattern.count + 1) else { return false }
                    if memcmp(hit, wanted, pattern.count) == 0 { return true }
                    offset = base.distance(to: UnsafeRawPointer(hit)) + 1
                }
                return false
            }
        }
    }
}
