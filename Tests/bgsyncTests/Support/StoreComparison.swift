import BGSyncStore
import Foundation
import GRDB

/// Everything replication must make equal on both sides, read through the store's public
/// readers: the changes feed (every document with all its leaves), each document's revision
/// tree, its winner and conflict sets (`_conflicts` / `_deleted_conflicts` of the document
/// JSON), every leaf's JSON with attachment stubs, and each attachment's data.
struct StoreContents {
    struct Document: Equatable {
        var tree: RevisionTree
        var deleted: Bool
        /// Leaves from the changes feed, winner first.
        var leaves: [RevisionID]
        /// `_conflicts` of the winner's JSON (empty when the winner is a tombstone).
        var conflicts: [String]
        /// `_deleted_conflicts`.
        var deletedConflicts: [String]
        /// Each leaf's JSON (`open_revs=all` with stubs, `_revisions` included).
        var leafJSON: [String]
    }

    /// The documents by id.
    var documents: [String: Document] = [:]
    /// Attachment data by digest (each digest a leaf refers to).
    var attachmentData: [String: [UInt8]] = [:]
    /// Stubs whose data is missing or does not match the stub's length or digest, and
    /// documents of the changes feed without a tree or a leaf's body.
    var problems: [String] = []

    var attachmentCount: Int { attachmentData.count }

    /// Reads `store` (only the documents `ids` when given) in one snapshot.
    static func read(_ store: DocumentStore, ids: Set<String>? = nil) throws -> StoreContents {
        try store.read { tx in
            var contents = StoreContents()
            for change in try tx.changes(since: 0) where ids?.contains(change.id) ?? true {
                guard let tree = try tx.tree(of: change.id) else {
                    contents.problems.append("\(change.id): in the changes feed without a revision tree")
                    continue
                }
                var conflicts: [String] = []
                var deletedConflicts: [String] = []
                let options = DocumentOptions(conflicts: true, deletedConflicts: true)
                if !change.deleted && change.leaves.count > 1 {
                    let winner = try JSONValue.parse(try tx.document(change.id, options: options))
                    conflicts = winner["_conflicts"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    deletedConflicts = winner["_deleted_conflicts"]?.arrayValue?.compactMap(\.stringValue) ?? []
                }
                var leafJSON: [String] = []
                for result in try tx.openRevisions(change.id, revs: nil) {
                    switch result {
                    case .ok(let json), .okFollowing(let json, _):
                        // Bodies are kept as received and rendered in one order: compared as text.
                        leafJSON.append(json)
                        if json.contains("\"_attachments\"") {
                            try contents.checkAttachments(try JSONValue.parse(json), id: change.id, reader: tx)
                        }
                    case .missing(let rev):
                        contents.problems.append("\(change.id): leaf \(rev) has no body")
                    case .invalid(let rev, let reason):
                        contents.problems.append("\(change.id): leaf \(rev) is not a valid document: \(reason)")
                    }
                }
                contents.documents[change.id] = Document(
                    tree: tree, deleted: change.deleted, leaves: change.leaves, conflicts: conflicts,
                    deletedConflicts: deletedConflicts, leafJSON: leafJSON.sorted())
            }
            return contents
        }
    }

    private mutating func checkAttachments(_ leaf: JSONValue, id: String, reader: StoreReader) throws {
        guard let stubs = leaf["_attachments"]?.objectValue else { return }
        for (name, stub) in stubs.members {
            guard let digest = stub["digest"]?.stringValue else {
                problems.append("\(id)/\(name): stub without a digest")
                continue
            }
            if attachmentData[digest] != nil { continue }
            guard let data = try reader.attachmentData(digest: digest) else {
                problems.append("\(id)/\(name): no data for \(digest)")
                continue
            }
            if stub["length"]?.intValue != data.count {
                problems.append("\(id)/\(name): length \(stub["length"]?.intValue ?? -1) but \(data.count) bytes stored")
            }
            if stub["content_type"]?.stringValue == "application/octet-stream",
               digest != "md5-" + Data(MD5.digest(data)).base64EncodedString() {
                problems.append("\(id)/\(name): data does not match \(digest)")
            }
            attachmentData[digest] = data
        }
    }

    /// Human-readable differences between two stores' contents (at most `limit`), empty when
    /// they hold the same documents, trees, winners, conflicts, leaves and attachments.
    static func differences(_ a: StoreContents, _ b: StoreContents, names: (String, String) = ("local", "remote"),
                            limit: Int = 20) -> [String] {
        var found: [String] = []
        func note(_ text: String) { if found.count < limit { found.append(text) } }
        for problem in a.problems { note("\(names.0): \(problem)") }
        for problem in b.problems { note("\(names.1): \(problem)") }
        let ids = Set(a.documents.keys).union(b.documents.keys).sorted()
        for id in ids {
            switch (a.documents[id], b.documents[id]) {
            case (nil, _): note("\(id): only on \(names.1)")
            case (_, nil): note("\(id): only on \(names.0)")
            case let (x?, y?) where x != y:
                if x.tree != y.tree {
                    note("\(id): revision trees differ: \(names.0) \(x.tree.nodes.keys.map(\.description).sorted()) vs \(names.1) \(y.tree.nodes.keys.map(\.description).sorted())")
                } else if x.leaves != y.leaves || x.deleted != y.deleted {
                    note("\(id): leaves differ: \(x.leaves) \(x.deleted) vs \(y.leaves) \(y.deleted)")
                } else if x.conflicts != y.conflicts || x.deletedConflicts != y.deletedConflicts {
                    note("\(id): conflicts differ: \(x.conflicts) \(x.deletedConflicts) vs \(y.conflicts) \(y.deletedConflicts)")
                } else {
                    note("\(id): leaf bodies differ: \(x.leafJSON) vs \(y.leafJSON)")
                }
            default: break
            }
        }
        for digest in Set(a.attachmentData.keys).union(b.attachmentData.keys).sorted() where a.attachmentData[digest] != b.attachmentData[digest] {
            note("attachment \(digest): data differs or is missing on one side")
        }
        return found
    }
}

/// SQLite-level checks of a store file, with a connection of its own.
enum StoreFileCheck {
    /// Problems found by `PRAGMA integrity_check` and `PRAGMA foreign_key_check`; empty when the
    /// file is sound.
    static func problems(_ path: String) throws -> [String] {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(30)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        return try queue.read { db in
            var problems = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
            problems += try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").map { "foreign key: \($0)" }
            return problems
        }
    }
}
