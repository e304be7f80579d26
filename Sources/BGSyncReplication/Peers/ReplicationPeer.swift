import BGSyncStore

/// One side of a replication. The algorithm in ``Replicator`` talks to every peer through this
/// protocol, so a local store and a CouchDB database over HTTP are interchangeable as source
/// and target.
package protocol ReplicationPeer: Sendable {
    /// The peer for messages, without credentials (a redacted URL or `file:/path`).
    var displayName: String { get }

    /// Checks that the peer is reachable and exists; returns a stable identity for replication
    /// ids (a store's uuid, or a normalised URL without credentials).
    func open() async throws -> String

    /// Reads `_local/<id>`, or nil if there is none.
    func readCheckpoint(id: String) async throws -> JSONValue?

    /// Writes `_local/<id>`.
    func writeCheckpoint(id: String, body: JSONValue) async throws

    /// Reads one batch of the changes feed after `since` (style `all_docs`).
    func changes(since: OpaqueSequence, limit: Int, filter: ChangesFilter?) async throws -> ChangesBatch

    /// Which of the given revisions the peer lacks (`_revs_diff`).
    func revsDiff(_ revisions: [(id: String, revs: [RevisionID])]) async throws -> [String: RevsDiffEntry]

    /// Fetches revisions with their `_revisions` histories (`_bulk_get?revs=true&latest=true`),
    /// with attachment data for attachments changed after `attsSince`.
    func fetch(_ requests: [RevisionRequest]) async throws -> [FetchedRevision]

    /// Stores revisions as they are (`_bulk_docs` with `new_edits: false`) and then, only once
    /// they are durable, the checkpoint (in the same transaction for a local store).
    /// The revisions are consumed: a peer may free each one's JSON once it has used it.
    func write(_ revisions: consuming [FetchedRevision], checkpoint: (id: String, body: JSONValue)?) async throws -> WriteResult

    /// Whether ``write(_:checkpoint:)`` stores the checkpoint at no extra cost (in the batch's
    /// transaction); otherwise the replicator writes it only now and then.
    var checkpointsWithWrites: Bool { get }

    /// The number of live documents (CouchDB's `doc_count`), for the mass-deletion guard; nil
    /// when the peer cannot tell.
    func liveDocumentCount() async throws -> Int?

    /// Which of `ids` the peer has live (not missing, not deleted), for the mass-deletion guard.
    func liveDocumentIDs(among ids: [String]) async throws -> Set<String>

    /// Whether the peer held no document at all, not even a deleted one, when ``open()`` first
    /// reached it. Such a target lacks every revision a source sends, so the replicator skips
    /// `_revs_diff` for it and sends everything: a revision it received from elsewhere
    /// meanwhile is merged as a no-op (`new_edits: false`), so nothing it lacks is ever left
    /// out. False when the peer cannot tell.
    var wasEmptyAtOpen: Bool { get }

    /// A value that changes whenever the peer may have lost revisions it held (CouchDB's
    /// `purge_seq`, with `instance_start_time`), as ``open()`` first read it; nil when the peer
    /// cannot tell. See ``RemoteHoldings``.
    var revisionLossMarker: String? { get }

    /// The same marker read again now (a request of its own); nil when the peer cannot tell.
    func currentRevisionLossMarker() async throws -> String?

    /// Requests made and body bytes moved so far (none for a local store).
    var traffic: PeerTraffic { get }

    /// `error` with anything secret this peer sends removed from its message (a server may
    /// echo credentials in any text it returns).
    func scrubbed(_ error: ReplicationError) -> ReplicationError

    /// Releases what the peer holds (connections); called once, when the run ends.
    func shutdown() async
}

extension ReplicationPeer {
    package var wasEmptyAtOpen: Bool { false }
    package var revisionLossMarker: String? { nil }
    package func currentRevisionLossMarker() async throws -> String? { nil }
    package var traffic: PeerTraffic { PeerTraffic() }
    package func scrubbed(_ error: ReplicationError) -> ReplicationError { error }
    package func shutdown() async {}
}

/// What a peer sent and received over the network.
package struct PeerTraffic: Sendable, Equatable {
    /// Requests made, retries included.
    package var requests = 0
    /// Response body bytes received.
    package var bytesReceived = 0
    /// Request body bytes sent.
    package var bytesSent = 0
}

/// What a changes feed may be filtered by.
package enum ChangesFilter: Sendable, Equatable {
    /// A pull filter, applied by the source server.
    case pull(PullFilter)
    /// A push filter, applied by the local store.
    case push(PushFilter)
}

/// A sequence from a changes feed: the raw JSON of `seq` / `last_seq`, stored and sent back
/// verbatim, never parsed or compared (CouchDB's are opaque strings, PouchDB's integers).
public struct OpaqueSequence: Hashable, Sendable, CustomStringConvertible {
    /// The JSON text, e.g. `"12-g1AAAA…"` (with quotes) or `12`.
    public let json: String

    /// The start of every feed.
    public static let zero = OpaqueSequence(json: "0")

    /// Wraps raw JSON text.
    public init(json: String) { self.json = json }

    /// Wraps a parsed JSON value.
    public init(_ value: JSONValue) { self.json = value.serialized }

    /// The value as a `since=` query parameter: a string's contents, or the raw number.
    public var queryValue: String {
        if case .string(let text)? = try? JSONValue.parse(json) { return text }
        return json
    }

    /// The parsed JSON value (for checkpoint documents).
    public var value: JSONValue { (try? JSONValue.parse(json)) ?? .number("0") }

    public var description: String { json }
}

/// One row of a changes batch.
package struct ChangeRow: Sendable, Equatable {
    /// The document id.
    package var id: String
    /// Its leaf revisions.
    package var revs: [RevisionID]
    /// Whether the winner is deleted.
    package var deleted: Bool
    /// The row's sequence in a local store's feed (nil from a server, whose sequences are
    /// opaque).
    package var localSeq: Int?

    /// Creates a row.
    package init(id: String, revs: [RevisionID], deleted: Bool, localSeq: Int? = nil) {
        self.id = id
        self.revs = revs
        self.deleted = deleted
        self.localSeq = localSeq
    }
}

/// One batch of a changes feed.
package struct ChangesBatch: Sendable {
    /// The rows (in the feed's order, which is not write order on a cluster).
    package var rows: [ChangeRow]
    /// Where the next batch starts.
    package var lastSeq: OpaqueSequence
    /// How many rows the feed held before `limit` cut it (the batch is the last one when it
    /// returned fewer than `limit` rows).
    package var rowsBeforeFilter: Int

    /// Creates a batch.
    package init(rows: [ChangeRow], lastSeq: OpaqueSequence, rowsBeforeFilter: Int) {
        self.rows = rows
        self.lastSeq = lastSeq
        self.rowsBeforeFilter = rowsBeforeFilter
    }
}

/// Revisions of one document to fetch.
package struct RevisionRequest: Sendable, Equatable {
    /// The document id.
    package var id: String
    /// The missing revisions.
    package var revs: [RevisionID]
    /// The target's possible ancestors: attachments unchanged since them are sent as stubs.
    package var attsSince: [RevisionID]

    /// Creates a request.
    package init(id: String, revs: [RevisionID], attsSince: [RevisionID]) {
        self.id = id
        self.revs = revs
        self.attsSince = attsSince
    }
}

/// A fetched revision: the document's JSON exactly as the source sent it, with `_id`, `_rev`,
/// `_revisions` and `_attachments`.
package struct FetchedRevision: Sendable {
    /// The document id.
    package var id: String
    /// The JSON text (UTF-8); empty for a refused revision.
    package var json: [UInt8]
    /// Set when the source's revision breaks ``DocumentRules`` (a body that is not valid JSON,
    /// not UTF-8, nested too deep…): no target can store it, so the replicator skips it and
    /// counts it in `doc_write_failures` with this id and reason, as CouchDB's replicator
    /// counts a document the target refuses, and replicates the rest.
    package var refusal: WriteFailure?
    /// Attachments whose data is in a file rather than in ``json`` (data larger than
    /// ``inlineAttachmentLimit``), by name; their entries in `_attachments` are stubs or say
    /// `"follows": true`.
    package var spooled: [String: SpoolFile] = [:]

    /// Set when the big attachment data of this revision was left at the source because its
    /// batch had already spooled ``ReplicatorConfiguration/spoolBytesPerBatch``: called just
    /// before the revision is written, it spools the data and returns the revision with
    /// ``spooled`` filled in, or nil when the source no longer has it (the newer revision comes
    /// with a later change). So a batch of documents with big attachments never puts more than
    /// about that many bytes on disk at once, plus one document's.
    package var deferredData: (@Sendable () async throws -> FetchedRevision?)?

    /// Attachment data up to this many bytes (1 MiB) travels inline, base64 in the document's
    /// JSON; longer data goes through a file (``spooled``) and a request of its own, so that
    /// memory does not grow with an attachment's size.
    package static let inlineAttachmentLimit = 1 << 20

    /// The bytes of its spooled attachment data.
    package var spooledBytes: Int { spooled.values.reduce(0) { $0 + $1.length } }

    /// Creates a fetched revision.
    package init(id: String, json: [UInt8]) {
        self.id = id
        self.json = json
    }

    /// A revision the source holds but that cannot be replicated, and why.
    package static func refused(id: String, rev: String?, reason: String) -> FetchedRevision {
        var revision = FetchedRevision(id: id, json: [])
        revision.refusal = WriteFailure(id: id, rev: rev, error: "bad_request", reason: reason)
        return revision
    }
}

/// A revision the target refused.
public struct WriteFailure: Sendable, Equatable {
    /// The document id.
    public var id: String
    /// The revision, when the target named it.
    public var rev: String?
    /// CouchDB's `error` (`forbidden`, `unauthorized`, …).
    public var error: String
    /// CouchDB's `reason`.
    public var reason: String

    /// Creates a failure.
    public init(id: String, rev: String?, error: String, reason: String) {
        self.id = id
        self.rev = rev
        self.error = error
        self.reason = reason
    }
}

/// The outcome of ``ReplicationPeer/write(_:checkpoint:)``.
package struct WriteResult: Sendable {
    /// Revisions stored.
    package var written: Int
    /// Revisions refused, one by one.
    package var failures: [WriteFailure]
    /// Documents that gained a conflict (known for local targets; 0 for servers).
    package var conflictsCreated = 0
}

/// Thrown by a target when stubs referred to attachment data it lacks: the replicator fetches
/// those documents again with all attachment data.
struct MissingStubs: Error {
    let ids: Set<String>
}
