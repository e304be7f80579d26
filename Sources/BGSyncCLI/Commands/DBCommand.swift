import ArgumentParser
import BGSyncJobs
import BGSyncStore
import Foundation

/// `bgsync db PATH ACTION …`: inspect and edit a local store.
struct DBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Inspect and edit a local bgsync database.",
        usage: "bgsync db <path> <action> [<options>]",
        discussion: """
            Actions:
              info                                  database facts (documents, update sequence, uuid)
              get ID [--rev R] [--revs] [--conflicts] [--deleted-conflicts] [--attachments]
                                                    print a document as CouchDB's GET /db/ID would
              put ID [FILE|-] [--new-edits false]   store a JSON document (stdin by default)
              rm ID [--rev R]                       delete a document (a tombstone revision)
              ls [--json] [--deleted]               list documents and their winning revisions
              changes [--since S] [--limit N] [--json]
                                                    the changes feed
              conflicts [--json]                    documents with conflicting revisions
              resolve ID (--pick REV | --body FILE|-)
                                                    settle a conflict: keep one leaf, or a merged body

            `put` creates the database if the file does not exist; the other actions need an \
            existing file (exit 66). Run `bgsync db <path> <action> --help` for an action's options.
            """
    )

    @Argument(help: "The database file (created by `put` if missing).")
    var path: String

    @Argument(help: "info | get | put | rm | ls | changes | conflicts | resolve")
    var action: String

    @Argument(parsing: .captureForPassthrough, help: .hidden)
    var arguments: [String] = []

    static let actions: [String: any DBAction.Type] = [
        "info": DBInfo.self, "get": DBGet.self, "put": DBPut.self, "rm": DBRemove.self,
        "ls": DBList.self, "changes": DBChanges.self, "conflicts": DBConflicts.self, "resolve": DBResolve.self,
    ]

    func run() throws {
        guard let actionType = Self.actions[action] else {
            throw ValidationError("unknown action '\(action)'; expected one of: info, get, put, rm, ls, changes, conflicts, resolve")
        }
        try actionType.parseAndRun(arguments, path: path)
    }
}

/// One action of `bgsync db`.
protocol DBAction: ParsableCommand {
    /// Whether the action writes (and may create the database).
    static var openMode: DocumentStore.OpenMode { get }
    /// Runs against an open store.
    func run(store: DocumentStore) throws
}

extension DBAction {
    static func parseAndRun(_ arguments: [String], path: String) throws {
        let action: Self
        do {
            action = try Self.parse(arguments)
        } catch {
            Self.exit(withError: error)
        }
        do {
            if openMode == .readWriteCreate {
                try InputFile.checkCreatable(path, what: "database file")
            } else {
                try InputFile.checkReadable(path, what: "database file")
            }
            let store = try DocumentStore.open(at: path, mode: openMode)
            try action.run(store: store)
        } catch {
            throw report(error)
        }
    }

    func run() throws {
        throw ValidationError("run through `bgsync db PATH \(Self._commandName)`")
    }
}
