import ArgumentParser
import BGSyncStore
import Foundation

struct DBInfo: DBAction {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Print database facts.")
    static let openMode = DocumentStore.OpenMode.readOnly

    @Flag(help: "Print one JSON object.")
    var json = false

    func run(store: DocumentStore) throws {
        let info = try store.read { try $0.info() }
        if json {
            var out = "{\"path\":"
            JSONString.append(info.path, to: &out)
            out += ",\"uuid\":\"\(info.uuid)\",\"doc_count\":\(info.documentCount),\"doc_del_count\":\(info.deletedDocumentCount)"
            out += ",\"update_seq\":\"\(info.updateSeq)\",\"revs_limit\":\(info.revsLimit)}"
            Console.out(out)
        } else {
            Console.out("""
                path:          \(info.path)
                uuid:          \(info.uuid)
                documents:     \(info.documentCount)
                deleted:       \(info.deletedDocumentCount)
                update_seq:    \(info.updateSeq)
                revs_limit:    \(info.revsLimit)
                """)
        }
    }
}

struct DBGet: DBAction {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print a document as CouchDB's GET /db/ID would.")
    static let openMode = DocumentStore.OpenMode.readOnly

    @Argument(help: "The document id (a _local/ id prints the local document).")
    var id: String
    @Option(help: "A specific revision instead of the winner.")
    var rev: String?
    @Flag(help: "Include _revisions (the revision's history).")
    var revs = false
    @Flag(help: "Include _conflicts (live losing leaves).")
    var conflicts = false
    @Flag(help: "Include _deleted_conflicts (deleted losing leaves).")
    var deletedConflicts = false
    @Flag(help: "Inline attachment data as base64 instead of stubs.")
    var attachments = false

    func run(store: DocumentStore) throws {
        let options = DocumentOptions(
            rev: try rev.map { try RevisionID(parsing: $0) }, revs: revs, conflicts: conflicts,
            deletedConflicts: deletedConflicts, attachments: attachments ? .data : .stubs)
        let json = try store.read { tx -> String in
            if id.hasPrefix("_local/") {
                guard let local = try tx.localDocument(id) else { throw StoreError(.notFound, "document \"\(id)\" not found (missing)", reason: "missing") }
                return local
            }
            return try tx.document(id, options: options)
        }
        Console.out(json)
    }
}

struct DBPut: DBAction {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store a JSON document; its _rev, if any, is the base revision.",
        discussion: "Prints {\"ok\":true,\"id\":…,\"rev\":…}. A stale or missing base revision is a conflict (exit 1).")
    static let openMode = DocumentStore.OpenMode.readWriteCreate

    @Argument(help: "The document id.")
    var id: String
    @Argument(help: "A file holding the JSON body, or - for standard input (the default).")
    var file: String = "-"
    @Option(help: "false stores the body's _rev and _revisions as given, as _bulk_docs with new_edits:false does.")
    var newEdits: Bool = true

    func run(store: DocumentStore) throws {
        let bytes = try Console.readInput(file)
        let rev: String = try store.write { tx in
            if id.hasPrefix("_local/") {
                return try tx.putLocal(id: id, json: String(decoding: bytes, as: UTF8.self))
            }
            return try tx.save(IncomingDocument(json: bytes), id: id, newEdits: newEdits).description
        }
        Console.out(okLine(id: id, rev: rev))
    }
}

struct DBRemove: DBAction {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Delete a document by adding a tombstone revision.")
    static let openMode = DocumentStore.OpenMode.readWrite

    @Argument(help: "The document id.")
    var id: String
    @Option(help: "The revision to delete (default: the current winner).")
    var rev: String?

    func run(store: DocumentStore) throws {
        let base = try rev.map { try RevisionID(parsing: $0) }
        let newRev: String = try store.write { tx in
            if id.hasPrefix("_local/") {
                guard try tx.deleteLocal(id: id) else { throw StoreError(.notFound, "document \"\(id)\" not found (missing)", reason: "missing") }
                return "0-0"
            }
            return try tx.delete(id: id, rev: base).description
        }
        Console.out(okLine(id: id, rev: newRev))
    }
}

struct DBList: DBAction {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List documents with their winning revisions, by id.")
    static let openMode = DocumentStore.OpenMode.readOnly

    @Flag(help: "Print a JSON array of {\"id\",\"rev\"[,\"deleted\"]}.")
    var json = false
    @Flag(help: "Include deleted documents.")
    var deleted = false

    func run(store: DocumentStore) throws {
        let docs = try store.read { try $0.allDocuments(includeDeleted: deleted) }
        if json {
            Console.out("[" + docs.map { doc in
                var out = "{\"id\":"
                JSONString.append(doc.id, to: &out)
                out += ",\"rev\":\"\(doc.rev)\""
                if doc.deleted { out += ",\"deleted\":true" }
                return out + "}"
            }.joined(separator: ",") + "]")
        } else {
            for doc in docs { Console.out("\(tabField(doc.id))\t\(doc.rev)\(doc.deleted ? "\tdeleted" : "")") }
        }
    }
}

struct DBChanges: DBAction {
    static let configuration = CommandConfiguration(
        commandName: "changes", abstract: "Print the changes feed: each document once, at its latest change.")
    static let openMode = DocumentStore.OpenMode.readOnly

    @Option(help: "Only changes after this sequence.")
    var since: Int = 0
    @Option(help: "At most this many rows.")
    var limit: Int?
    @Flag(help: "Print CouchDB's _changes object ({\"results\":[…],\"last_seq\":…,\"pending\":…}).")
    var json = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be zero or more") }
        if since < 0 { throw ValidationError("--since must be zero or more") }
    }

    func run(store: DocumentStore) throws {
        let (changes, info) = try store.read { tx in (try tx.changes(since: since, limit: limit), try tx.info()) }
        let lastSeq = changes.last?.seq ?? (limit == nil ? info.updateSeq : since)
        if json {
            let pending = limit == nil ? 0 : try store.read { try $0.changeCount(since: lastSeq) }
            var out = "{\"results\":["
            for (index, change) in changes.enumerated() {
                if index > 0 { out += "," }
                out += "{\"seq\":\"\(change.seq)\",\"id\":"
                JSONString.append(change.id, to: &out)
                out += ",\"changes\":[" + change.leaves.map { "{\"rev\":\"\($0)\"}" }.joined(separator: ",") + "]"
                if change.deleted { out += ",\"deleted\":true" }
                out += "}"
            }
            out += "],\"last_seq\":\"\(lastSeq)\",\"pending\":\(pending)}"
            Console.out(out)
        } else {
            for change in changes {
                Console.out("\(change.seq)\t\(tabField(change.id))\t\(change.leaves.map(\.description).joined(separator: ","))\(change.deleted ? "\tdeleted" : "")")
            }
        }
    }
}

struct DBConflicts: DBAction {
    static let configuration = CommandConfiguration(
        commandName: "conflicts", abstract: "List documents with conflicting revisions.")
    static let openMode = DocumentStore.OpenMode.readOnly

    @Flag(help: "Print a JSON array of {\"id\",\"rev\",\"_conflicts\",\"_deleted_conflicts\"}.")
    var json = false

    func run(store: DocumentStore) throws {
        let conflicts = try store.read { try $0.conflicts() }
        if json {
            Console.out("[" + conflicts.map { item in
                var out = "{\"id\":"
                JSONString.append(item.id, to: &out)
                out += ",\"rev\":\"\(item.winner)\""
                if item.winnerDeleted { out += ",\"deleted\":true" }
                out += ",\"_conflicts\":[" + item.conflicts.map { "\"\($0)\"" }.joined(separator: ",") + "]"
                out += ",\"_deleted_conflicts\":[" + item.deletedConflicts.map { "\"\($0)\"" }.joined(separator: ",") + "]}"
                return out
            }.joined(separator: ",") + "]")
        } else {
            for item in conflicts {
                var line = "\(tabField(item.id))\t\(item.winner)\(item.winnerDeleted ? " (deleted)" : "")"
                if !item.conflicts.isEmpty { line += "\tconflicts: " + item.conflicts.map(\.description).joined(separator: ",") }
                if !item.deletedConflicts.isEmpty { line += "\tdeleted conflicts: " + item.deletedConflicts.map(\.description).joined(separator: ",") }
                Console.out(line)
            }
        }
    }
}

/// An id as one field of tab-separated output: a backslash, tab, newline or carriage return in
/// it is written `\\`, `\t`, `\n`, `\r`, so that each row stays one line of fields.
func tabField(_ text: String) -> String {
    guard text.contains(where: { $0 == "\\" || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return text }
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\t": out += "\\t"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// `{"ok":true,"id":…,"rev":…}`.
func okLine(id: String, rev: String) -> String {
    var out = "{\"ok\":true,\"id\":"
    JSONString.append(id, to: &out)
    out += ",\"rev\":"
    JSONString.append(rev, to: &out)
    return out + "}"
}
