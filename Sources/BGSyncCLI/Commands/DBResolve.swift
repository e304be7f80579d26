import ArgumentParser
import BGSyncStore
import Foundation

/// `bgsync db PATH resolve ID (--pick REV | --body FILE)`: a human settles a conflict, written
/// exactly as a job's resolver writes it (tombstones on the losing leaves, a new revision
/// where needed), so the next push sends the resolution.
struct DBResolve: DBAction {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Settle a document's conflict: keep one conflicting leaf, or write a merged body.",
        discussion: """
            --pick REV keeps that leaf (a deleted one deletes the document) and adds a tombstone \
            on every other live leaf. --body FILE (- for standard input) writes the JSON object \
            as a new revision on top of the winner, keeping its attachments, and adds a tombstone \
            on every other live leaf. Prints {"ok":true,"id":…,"rev":…} with the new winner; a \
            document without a conflict is an error (exit 1). `bgsync db PATH get ID --conflicts \
            --deleted-conflicts --revs` shows the leaves.
            """)
    static let openMode = DocumentStore.OpenMode.readWrite

    @Argument(help: "The document id.")
    var id: String
    @Option(help: "The conflicting leaf to keep.")
    var pick: String?
    @Option(help: "A file holding the merged JSON body, or - for standard input.")
    var body: String?

    func validate() throws {
        if (pick == nil) == (body == nil) { throw ValidationError("give one of --pick REV or --body FILE") }
    }

    func run(store: DocumentStore) throws {
        let resolution: ConflictResolution
        if let pick {
            resolution = .keep(try RevisionID(parsing: pick))
        } else {
            resolution = .merge(body: String(decoding: try Console.readInput(body ?? "-"), as: UTF8.self))
        }
        let resolved = try store.write { try $0.resolveConflict(id: id, resolution) }
        var line = okLine(id: id, rev: resolved.winner.description)
        if resolved.deleted { line = String(line.dropLast()) + ",\"deleted\":true}" }
        Console.out(line)
    }
}
