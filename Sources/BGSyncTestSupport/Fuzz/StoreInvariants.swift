import BGSyncStore
import Foundation

/// Checks a store after hostile input: SQLite's own `PRAGMA integrity_check` (through the
/// `sqlite3` shell, as a separate process) and bgsync's invariants through the public API.
public enum StoreInvariants {
    /// The problems found, empty when the store is sound:
    /// * every document has a non-empty tree whose winner is the listed winning revision;
    /// * every leaf reads back (`open_revs`) as a JSON object with its `_id` and `_rev`;
    /// * a live winner reads back as a document;
    /// * the counts of `GET /db` match the listing.
    public static func problems(in store: DocumentStore) throws -> [String] {
        var problems: [String] = []
        try store.read { tx in
            let all = try tx.allDocuments(includeDeleted: true)
            let info = try tx.info()
            if info.documentCount + info.deletedDocumentCount != all.count {
                problems.append("info counts \(info.documentCount)+\(info.deletedDocumentCount) but \(all.count) documents are listed")
            }
            for summary in all {
                guard let tree = try tx.tree(of: summary.id), let winner = tree.winner else {
                    problems.append("\(summary.id.debugDescription): listed without a tree")
                    continue
                }
                if winner.rev != summary.rev || winner.deleted != summary.deleted {
                    problems.append("\(summary.id.debugDescription): listed winner \(summary.rev) is not the tree's \(winner.rev)")
                }
                for leaf in tree.leaves {
                    let results = try tx.openRevisions(summary.id, revs: [leaf.rev])
                    guard results.count == 1, case .ok(let json) = results[0] else {
                        problems.append("\(summary.id.debugDescription): leaf \(leaf.rev) does not read back: \(results)")
                        continue
                    }
                    let value = try? JSONValue.parse(json)
                    if value?["_id"]?.stringValue != summary.id || value?["_rev"]?.stringValue != leaf.rev.description {
                        problems.append("\(summary.id.debugDescription): leaf \(leaf.rev) reads back as \(json.prefix(200))")
                    }
                }
                if !summary.deleted {
                    _ = try tx.document(summary.id)
                }
            }
        }
        if let integrity = try integrityCheck(store.path), integrity != "ok" {
            problems.append("PRAGMA integrity_check: \(integrity)")
        }
        return problems
    }

    /// `PRAGMA integrity_check` of the file, run by the `sqlite3` shell; nil when no shell is
    /// installed.
    public static func integrityCheck(_ path: String) throws -> String? {
        guard let shell = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3", "/bin/sqlite3"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return nil
        }
        let ended = try TestProcess.run(shell, ["-readonly", path, "PRAGMA integrity_check;"], stderr: .standardOutput)
        return ended.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every path under `directory` (files and directories, relative, sorted), for checking
    /// that nothing was written outside a database.
    public static func listing(_ directory: String) -> [String] {
        (FileManager.default.subpaths(atPath: directory) ?? []).sorted()
    }
}
