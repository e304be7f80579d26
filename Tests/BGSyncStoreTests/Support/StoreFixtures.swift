import BGSyncTestSupport
import BGSyncStore
import Foundation

extension TemporaryDirectory {
    /// Opens (creating it by default) a store in this directory.
    func openStore(_ name: String = "db.sqlite", mode: DocumentStore.OpenMode = .readWriteCreate) throws -> DocumentStore {
        try DocumentStore.open(at: path(name), mode: mode)
    }
}

/// A revision id written out in a test, such as `"2-aaaa"`; a typo stops the test run.
func rev(_ text: String) -> RevisionID {
    do {
        return try RevisionID(parsing: text)
    } catch {
        fatalError("bad revision id in a test: \(text): \(error)")
    }
}

/// Revision ids written out in a test.
func revs(_ texts: String...) -> [RevisionID] { texts.map(rev) }

/// The JSON of a revision as a replicator sends it with `new_edits: false`: `_id`, `_rev`,
/// `_revisions` (from `history`, newest first, full `N-hash` ids with consecutive generations),
/// `_deleted` when `deleted`, then `members` (JSON object members without braces).
func replicatedJSON(_ id: String, _ history: [String], deleted: Bool = false, members: String = "") -> String {
    let path = history.map(rev)
    var json = "{\"_id\":\(JSONString.quoted(id)),\"_rev\":\"\(path[0])\""
    json += ",\"_revisions\":{\"start\":\(path[0].generation),\"ids\":[" + path.map { "\"\($0.hash)\"" }.joined(separator: ",") + "]}"
    if deleted { json += ",\"_deleted\":true" }
    if !members.isEmpty { json += "," + members }
    return json + "}"
}

extension DocumentStore {
    /// `PUT /db/id` with `json` (its `_rev` is the base revision).
    @discardableResult
    func put(_ id: String, _ json: String) throws -> RevisionID {
        try write { try $0.put(id: id, json: json) }
    }

    /// One document of `_bulk_docs` with `new_edits: false`.
    @discardableResult
    func replicate(_ json: String) throws -> RevisionID {
        try write { try $0.put(json: json, newEdits: false) }
    }

    /// Deletes `id` at `rev` (the winner if nil).
    @discardableResult
    func delete(_ id: String, rev: RevisionID? = nil) throws -> RevisionID {
        try write { try $0.delete(id: id, rev: rev) }
    }

    func info() throws -> StoreInfo { try read { try $0.info() } }

    func updateSeq() throws -> Int { try info().updateSeq }

    func document(_ id: String, _ options: DocumentOptions = DocumentOptions()) throws -> String {
        try read { try $0.document(id, options: options) }
    }

    func tree(_ id: String) throws -> RevisionTree? { try read { try $0.tree(of: id) } }

    func changes(since: Int = 0, limit: Int? = nil) throws -> [Change] {
        try read { try $0.changes(since: since, limit: limit) }
    }

    func openRevisions(_ id: String, _ revs: [RevisionID]?, latest: Bool = false,
                       attachments: AttachmentMode = .stubs) throws -> [StoreReader.OpenRevision] {
        try read { try $0.openRevisions(id, revs: revs, latest: latest, attachments: attachments) }
    }

    func conflicts() throws -> [ConflictSummary] { try read { try $0.conflicts() } }

    func setRevsLimit(_ limit: Int) throws { try write { try $0.setRevsLimit(limit) } }

    /// `rev=`, `revs=true`, `conflicts=true`, `deleted_conflicts=true`.
    func fullDocument(_ id: String) throws -> String {
        try document(id, DocumentOptions(revs: true, conflicts: true, deletedConflicts: true))
    }
}

extension RevisionTree {
    /// The revisions without a parent in the tree.
    var roots: Set<RevisionID> {
        Set(nodes.keys.filter { parent(of: $0).map { !contains($0) } ?? true })
    }
}

/// Requests and responses recorded from Apache CouchDB 3.4.3 (`couchdb-3.4.3-transcripts.md`).
enum Transcript {
    /// The three documents of "_bulk_docs new_edits:false success: empty array", without the
    /// whitespace between tokens: bodies are stored as sent, so `"v": "a"` would read back with
    /// its space, where CouchDB re-encodes it as `"v":"a"`.
    static let c1Documents = [
        #"{"_id":"c1","_rev":"2-aaaa","_revisions":{"start":2,"ids":["aaaa","1111"]},"v":"a"}"#,
        #"{"_id":"c1","_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","1111"]},"v":"b"}"#,
        #"{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{"start":3,"ids":["cccc","bbbb","1111"]}}"#,
    ]

    /// "Winner, conflicts, deleted conflicts, _revisions":
    /// `GET /transcript_db/c1?conflicts=true&deleted_conflicts=true&revs=true`.
    static let c1WithConflicts = #"{"_id":"c1","_rev":"2-aaaa","v":"a","_revisions":{"start":2,"ids":["aaaa","1111"]},"_deleted_conflicts":["3-cccc"]}"#

    /// "open_revs=all with revs (JSON)": the two `ok` documents, in order.
    static let c1OpenRevsAll = [
        #"{"_id":"c1","_rev":"2-aaaa","v":"a","_revisions":{"start":2,"ids":["aaaa","1111"]}}"#,
        #"{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{"start":3,"ids":["cccc","bbbb","1111"]}}"#,
    ]

    /// The revision CouchDB gave the document "att".
    static let attRev = "1-8d83a10300234d538a6e63b4760a156a"

    /// The body of "Document with an inline attachment".
    static let attBody = #"{"_attachments": {"hello.txt": {"content_type": "text/plain", "data": "aGVsbG8gd29ybGQ="}}}"#

    /// "att" as a replicator would send it (CouchDB's revision, digest and data).
    static let attReplicated = #"{"_id":"att","_rev":"1-8d83a10300234d538a6e63b4760a156a","_revisions":{"start":1,"ids":["8d83a10300234d538a6e63b4760a156a"]},"_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-7mkg+nM0HN26sZkLN8KVSA==","length":11,"data":"aGVsbG8gd29ybGQ="}}}"#

    /// "Attachment stub": `GET /transcript_db/att`.
    static let attStub = #"{"_id":"att","_rev":"1-8d83a10300234d538a6e63b4760a156a","_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-7mkg+nM0HN26sZkLN8KVSA==","length":11,"stub":true}}}"#

    /// "Attachment inline": `GET /transcript_db/att?attachments=true&revs=true`.
    static let attInline = #"{"_id":"att","_rev":"1-8d83a10300234d538a6e63b4760a156a","_revisions":{"start":1,"ids":["8d83a10300234d538a6e63b4760a156a"]},"_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-7mkg+nM0HN26sZkLN8KVSA==","data":"aGVsbG8gd29ybGQ="}}}"#

    /// "Read a _local document".
    static let localCheckpoint = #"{"_id":"_local/ckpt","_rev":"0-1","session_id":"s1","source_last_seq":"5-xyz","history":[]}"#

    /// Stores c1 as the transcript's `_bulk_docs` did.
    static func storeC1(in store: DocumentStore) throws {
        try store.write { tx in
            for json in c1Documents { try tx.put(json: json, newEdits: false) }
        }
    }
}

// Readable forms of the store's result values (their memberwise initializers are internal).

extension RevisionTree.Leaf {
    /// `"2-aaaa"`, or `"3-cccc deleted"` for a tombstone.
    var text: String { deleted ? "\(rev) deleted" : rev.description }
}

extension RevisionTree {
    /// The leaves in winner order, as ``RevisionTree/Leaf/text``.
    var leafTexts: [String] { leaves.map(\.text) }
}

extension DocumentSummary {
    /// `"id rev"`, with ` deleted` for a deleted winner.
    var text: String { "\(id) \(rev)\(deleted ? " deleted" : "")" }
}

extension ConflictSummary {
    /// `"id winner[ deleted] conflicts=[…] deleted_conflicts=[…]"`.
    var text: String {
        "\(id) \(winner)\(winnerDeleted ? " deleted" : "") conflicts=\(conflicts.map(\.description)) deleted_conflicts=\(deletedConflicts.map(\.description))"
    }
}
