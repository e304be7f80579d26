import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// The mass-deletion guard through the real binary: `max_delete` in a job file, `--force`,
/// exit 65, the `refused` outcome in `status`, and `bgsync sync --max-delete`.
@Suite("bgsync max_delete", .serialized)
struct MaxDeleteTests {
    /// A sandbox whose job has synced once with a server database `db` of `documents` documents
    /// (`r00`, `r01`, …); `job` is the job file.
    func withSyncedJob(documents: Int = 10, jobBody: String = "",
                       _ body: (JobSandbox, FixtureServer, DocumentStore, String) async throws -> Void) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            try remote.write { tx in
                for i in 0..<documents { _ = try tx.put(id: String(format: "r%02d", i), json: #"{"n":\#(i)}"#) }
            }
            try sandbox.registry(remote: server.url("db"))
            let job = try sandbox.job(body: jobBody)
            let first = try await sandbox.bgsync(["run", job])
            #expect(first.status == 0, "\(first.stderr)")
            try await body(sandbox, server, remote, job)
        }
    }

    func deleteLocally(_ sandbox: JobSandbox, _ ids: [String]) throws {
        try DocumentStore.open(at: sandbox.localStore).write { tx in for id in ids { _ = try tx.delete(id: id) } }
    }

    func liveCount(_ store: DocumentStore) throws -> Int {
        try store.read { try $0.info().documentCount }
    }

    @Test("a push deleting 8 of 11 is refused: exit 65, the reason on stderr, outcome refused, pull done, remote untouched; --force does not lift the guard, --allow-mass-deletion pushes and logs the count")
    func refusedThenForced() async throws {
        try await withSyncedJob { sandbox, server, remote, job in
            try deleteLocally(sandbox, (0..<8).map { String(format: "r%02d", $0) })
            try remote.write { _ = try $0.put(id: "remote-new", json: "{}") }
            server.resetRequestLog()
            let run = try await sandbox.bgsync(["run", job])
            #expect(run.status == 65, "\(run.stdout) \(run.stderr)")
            #expect(run.stderr.contains("push refused: it would delete 8 of the remote's 11 documents (72 %), more than max_delete = 50 %"), "\(run.stderr)")
            #expect(run.stderr.contains("run with --allow-mass-deletion to push anyway"), "\(run.stderr)")
            // Printed once, without the outcome doubled ("refused: push refused").
            let refusedLines = run.stderr.split(separator: "\n").filter { $0.contains("push refused") }
            #expect(refusedLines.count == 1 && refusedLines.first?.hasPrefix("bgsync: error: job: push refused: it would delete") == true, "\(run.stderr)")
            #expect(!run.stderr.contains("refused: push refused"))
            #expect(try liveCount(remote) == 11)
            #expect(!server.requests().contains { $0.path.hasSuffix("/_bulk_docs") })
            #expect(try DocumentStore.open(at: sandbox.localStore).read { try $0.tree(of: "remote-new") } != nil)

            let status = try #require(try await sandbox.status().first)
            #expect(status["last_outcome"]?.stringValue == "refused")
            #expect(status["state"]?.stringValue == "refused")
            #expect(status["consecutive_failures"]?.intValue == 0)
            #expect(status["last_reason"]?.stringValue?.contains("push refused") == true)

            // Refused again on the next run, with no backoff growing; --json shows the pull's counters.
            let again = try await sandbox.bgsync(["run", job, "--json"])
            #expect(again.status == 65)
            let result = try JSONValue.parse(again.stdout)
            #expect(result["outcome"]?.stringValue == "refused")
            #expect(result["exit_code"]?.intValue == 65)
            #expect(result["pull"]?.objectValue != nil)
            #expect(result["push"] == JSONValue.null, "the push did not run: null, always present")
            #expect(result["reason_code"]?.stringValue == "deletion_refused")
            #expect(try await sandbox.status().first?["consecutive_failures"]?.intValue == 0)

            // --force means "now": it does not lift the guard.
            let now = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(now.status == 65, "\(now.stderr)")
            #expect(try liveCount(remote) == 11)

            let forced = try await sandbox.bgsync(["run", job, "--allow-mass-deletion", "--json"])
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(try JSONValue.parse(forced.stdout)["push"]?["docs_written"]?.intValue == 8)
            #expect(forced.stderr.contains("max_delete lifted: the push carries 8 deletions"), "\(forced.stderr)")
            #expect(try liveCount(remote) == 3)
            #expect(try await sandbox.status().first?["last_outcome"]?.stringValue == "synced")
        }
    }

    @Test("many documents created and deleted locally, never pushed, do not trip the guard")
    func createdAndDeletedLocally() async throws {
        try await withSyncedJob { sandbox, _, remote, job in
            let local = try DocumentStore.open(at: sandbox.localStore)
            try local.write { tx in
                for i in 0..<60 { _ = try tx.put(id: "tmp\(i)", json: "{}") }
                for i in 0..<60 { _ = try tx.delete(id: "tmp\(i)") }
            }
            let run = try await sandbox.bgsync(["run", job])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(try liveCount(remote) == 10)
        }
    }

    @Test("an absolute max_delete: 3 deletions pass max_delete = 3, a 4th is refused")
    func absoluteLimit() async throws {
        try await withSyncedJob(jobBody: "max_delete = 3\n") { sandbox, _, remote, job in
            try deleteLocally(sandbox, ["r00", "r01", "r02"])
            #expect(try await sandbox.bgsync(["run", job]).status == 0)
            #expect(try liveCount(remote) == 7)
            try deleteLocally(sandbox, ["r03", "r04", "r05", "r06"])
            let refused = try await sandbox.bgsync(["run", job])
            #expect(refused.status == 65)
            #expect(refused.stderr.contains("it would delete 4 of the remote's 7 documents (57 %), more than max_delete = 3 documents"), "\(refused.stderr)")
            #expect(try liveCount(remote) == 7)
        }
    }

    @Test("invalid max_delete values exit 78 naming the key and what is accepted", arguments: [
        ("max_delete = \"150%\"\n", "max_delete"),
        ("max_delete = -3\n", "max_delete"),
        ("max_delete = true\n", "a percentage of the remote's documents"),
        ("max_delet = \"10%\"\n", "did you mean \"max_delete\""),
    ])
    func invalid(line: String, expected: String) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.registry(remote: "http://127.0.0.1:9/db")
        let job = try sandbox.job("bad", body: line)
        let run = try await sandbox.bgsync(["run", job])
        #expect(run.status == 78, "\(run.stderr)")
        #expect(run.stderr.contains("bad.toml"))
        #expect(run.stderr.contains(expected), "\(run.stderr)")
    }

    @Test("bgsync sync: --max-delete refuses (65, outcome refused), --allow-mass-deletion (or its former name --force) pushes, a bad value is a usage error")
    func syncCommand() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            try remote.write { tx in for i in 0..<10 { _ = try tx.put(id: "r\(i)", json: "{}") } }
            let local = sandbox.root + "/data/adhoc.sqlite"
            #expect(try await sandbox.bgsync(["sync", local, server.url("db")], stateDir: false).status == 0)
            try DocumentStore.open(at: local).write { tx in for i in 0..<2 { _ = try tx.delete(id: "r\(i)") } }
            let refused = try await sandbox.bgsync(["sync", local, server.url("db"), "--max-delete", "10%", "--json"], stateDir: false)
            #expect(refused.status == 65, "\(refused.stderr)")
            #expect(try JSONValue.parse(refused.stdout)["outcome"]?.stringValue == "refused")
            #expect(refused.stderr.contains("2 of the remote's 10 documents (20 %), more than max_delete = 10 %"), "\(refused.stderr)")
            #expect(try liveCount(remote) == 10)
            let forced = try await sandbox.bgsync(["sync", local, server.url("db"), "--max-delete", "10%", "--allow-mass-deletion"], stateDir: false)
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(try liveCount(remote) == 8)
            try DocumentStore.open(at: local).write { tx in for i in 2..<4 { _ = try tx.delete(id: "r\(i)") } }
            let legacy = try await sandbox.bgsync(["sync", local, server.url("db"), "--max-delete", "10%", "--force"], stateDir: false)
            #expect(legacy.status == 0, "\(legacy.stderr)")
            #expect(try liveCount(remote) == 6)
            let bad = try await sandbox.bgsync(["sync", local, server.url("db"), "--max-delete", "lots"], stateDir: false)
            #expect(bad.status == 64)
            #expect(bad.stderr.contains("--max-delete"))
        }
    }
}
