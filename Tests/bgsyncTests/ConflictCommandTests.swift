import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Conflict resolution from the command line: `db resolve` for a human, and a job's resolver
/// against a fixture server, run as processes.
@Suite("Conflict resolution (CLI)", .serialized)
struct ConflictCommandTests {
    func bgsync(_ arguments: [String], input: String? = nil) throws -> DBCommandTests.Run {
        try DBCommandTests.bgsync(arguments, input: input)
    }

    /// A database with `doc` at live leaves 2-aaaa and 2-bbbb (both on 1-root).
    func conflicted() throws -> (dir: String, db: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-resolve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let db = dir + "/db.sqlite"
        for hash in ["aaaa", "bbbb"] {
            let put = try bgsync(["db", db, "put", "doc", "-", "--new-edits", "false"],
                                 input: #"{"_rev":"2-\#(hash)","_revisions":{"start":2,"ids":["\#(hash)","root"]},"v":"\#(hash)"}"#)
            #expect(put.status == 0, "\(put.stderr)")
        }
        return (dir, db)
    }

    @Test("db resolve --pick keeps a leaf, --body writes a merge; conflicts then lists nothing; no conflict is exit 1")
    func dbResolve() throws {
        let (dir, db) = try conflicted()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let picked = try bgsync(["db", db, "resolve", "doc", "--pick", "2-aaaa"])
        #expect(picked.status == 0, "\(picked.stderr)")
        #expect(picked.stdout.contains(#"{"ok":true,"id":"doc","rev":"2-aaaa"}"#))
        // `conflicts` is unchanged: the loser's tombstone is a deleted conflict, no live one is left.
        let listed = try bgsync(["db", db, "conflicts", "--json"]).stdout
        #expect(listed.contains(#""rev":"2-aaaa","_conflicts":[],"_deleted_conflicts":["3-"#), "\(listed)")
        let again = try bgsync(["db", db, "resolve", "doc", "--pick", "2-aaaa"])
        #expect(again.status == 1 && again.stderr.contains("no conflicting revisions"), "\(again.stderr)")

        for hash in ["cccc", "dddd"] {
            _ = try bgsync(["db", db, "put", "merged", "-", "--new-edits", "false"],
                           input: #"{"_rev":"2-\#(hash)","_revisions":{"start":2,"ids":["\#(hash)","root"]}}"#)
        }
        let merged = try bgsync(["db", db, "resolve", "merged", "--body", "-"], input: #"{"v":"both"}"#)
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(merged.stdout.contains(#""rev":"3-"#))
        #expect(try bgsync(["db", db, "get", "merged", "--conflicts"]).stdout.contains(#""v":"both"}"#))
        let usage = try bgsync(["db", db, "resolve", "merged"])
        #expect(usage.status == 64, "\(usage.stderr)")
    }

    @Test("a job with conflicts = \"deterministic\" leaves no live conflict on either side after one run and reports it")
    func jobResolves() async throws {
        try await JobSandbox.withServer(documents: 0) { sandbox, server in
            let remote = try server.createDatabase("conflicted")
            // The server already holds a conflict; the device edits another document that the
            // server edits too.
            try remote.write { tx in
                try tx.put(json: #"{"_id":"both","_rev":"2-aaaa","_revisions":{"start":2,"ids":["aaaa","root"]},"v":1}"#, newEdits: false)
                try tx.put(json: #"{"_id":"both","_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","root"]},"v":2}"#, newEdits: false)
                try tx.put(json: #"{"_id":"note","_rev":"1-root","_revisions":{"start":1,"ids":["root"]},"v":0}"#, newEdits: false)
            }
            try sandbox.registry(remote: server.url("conflicted"), extra: #"conflicts = "deterministic""#)
            let job = try sandbox.job(body: "[metrics]\ntextfile = \"\(sandbox.root)/job.prom\"\n")
            let first = try await sandbox.bgsync(["run", job, "--json"])
            #expect(first.status == 0, "\(first.stderr)")
            let local = try DocumentStore.open(at: sandbox.localStore)
            try local.write { _ = try $0.put(id: "note", json: #"{"_rev":"1-root","v":"device"}"#) }
            try remote.write { _ = try $0.put(id: "note", json: #"{"_rev":"1-root","v":"server"}"#) }
            let second = try await sandbox.bgsync(["run", job, "--json", "--force"])
            #expect(second.status == 0, "\(second.stderr)")
            let firstResult = try JSONValue.parse(first.stdout), secondResult = try JSONValue.parse(second.stdout)
            #expect(firstResult["conflicts_resolved"]?.intValue == 1, "\(first.stdout)")
            #expect(secondResult["conflicts_resolved"]?.intValue == 1, "\(second.stdout)")
            #expect(secondResult["conflicts_unresolved"]?.intValue == 0)
            for store in [local, remote] {
                #expect(try store.read { try $0.conflicts() }.allSatisfy { $0.conflicts.isEmpty })
            }
            let trees = try [local, remote].map { store in
                try store.read { tx in try ["both", "note"].map { try tx.tree(of: $0) } }
            }
            #expect(trees[0] == trees[1])
            let metrics = try String(contentsOfFile: sandbox.root + "/job.prom", encoding: .utf8)
            #expect(metrics.contains(#"bgsync_conflicts_resolved{tag="job"} 1"#))
            let history = try await sandbox.bgsync(["status", "job", "--json", "--history", "1"])
            #expect(history.stdout.contains(#""conflicts_resolved":1"#), "\(history.stdout)")
        }
    }
}
