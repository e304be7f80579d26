import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Issue 13, points 1 and 3, through the built binary: nothing is created by accident (a
/// missing `file:` remote or push-only local database is exit 66 naming it, unless asked),
/// `db` read actions work on read-only media, and a poison document is skipped and named in
/// `--json`, the state's history and the log.
@Suite("edge contracts: missing databases, read-only media, poison documents")
struct EdgeContractTests {
    static func bgsync(_ arguments: [String]) throws -> DBCommandTests.Run { try DBCommandTests.bgsync(arguments) }

    static func withDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-edge-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    static func seed(_ path: String, count: Int = 3) throws {
        let store = try DocumentStore.open(at: path)
        try store.write { tx in for i in 0..<count { _ = try tx.put(id: "d\(i)", json: #"{"n":\#(i)}"#) } }
    }

    @Test("sync to a missing file remote: exit 66 naming the path, nothing created; --create-target creates it",
          arguments: ["", "file:"])
    func missingRemote(prefix: String) throws {
        try Self.withDirectory { dir in
            let local = dir + "/local.sqlite"
            try Self.seed(local)
            let remote = dir + "/unmounted/backup.sqlite"
            try FileManager.default.createDirectory(atPath: dir + "/unmounted", withIntermediateDirectories: true)
            let refused = try Self.bgsync(["sync", local, prefix + remote])
            #expect(refused.status == 66, "\(refused.stderr)")
            #expect(refused.stderr.contains(remote) && refused.stderr.contains("--create-target"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: remote))
            let created = try Self.bgsync(["sync", local, prefix + remote, "--create-target", "--json"])
            #expect(created.status == 0, "\(created.stderr)")
            #expect(try DocumentStore.open(at: remote, mode: .readOnly).read { try $0.info().documentCount } == 3)
        }
    }

    @Test("a push-only run from a missing local database: exit 66 naming it, nothing created; a pull creates it")
    func missingLocal() throws {
        try Self.withDirectory { dir in
            let remote = dir + "/remote.sqlite"
            try Self.seed(remote)
            let local = dir + "/local.sqlite"
            let push = try Self.bgsync(["sync", local, remote, "--push-only"])
            #expect(push.status == 66, "\(push.stderr)")
            #expect(push.stderr.contains(local), "\(push.stderr)")
            #expect(!FileManager.default.fileExists(atPath: local))
            let pull = try Self.bgsync(["sync", local, remote, "--pull-only"])
            #expect(pull.status == 0, "\(pull.stderr)")
            #expect(try DocumentStore.open(at: local, mode: .readOnly).read { try $0.info().documentCount } == 3)
        }
    }

    @Test("a job whose file remote is missing: exit 66; create_target = true in the registry creates it")
    func createTargetInRegistry() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try Self.seed(sandbox.localStore)
        try sandbox.registry(remote: "file:data/backup.sqlite")
        let job = try sandbox.job()
        let refused = try await sandbox.bgsync(["run", job, "--json"])
        #expect(refused.status == 66, "\(refused.stderr)")
        #expect(refused.stdout.contains(#""exit_code":66"#), "\(refused.stdout)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/data/backup.sqlite"))
        try sandbox.registry(remote: "file:data/backup.sqlite", extra: "create_target = true")
        let created = try await sandbox.bgsync(["run", job, "--json", "--force"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try DocumentStore.open(at: sandbox.root + "/data/backup.sqlite", mode: .readOnly).read { try $0.info().documentCount } == 3)
    }

    @Test("db read actions inspect a database on read-only media",
          .enabled(if: LocalFaultTests.canMakeReadOnly, "as root, needs chattr +i on the temporary directory's filesystem"))
    func readOnlyMedia() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-media-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/notes.sqlite"
        try Self.seed(path)
        let chattr = try #require(findTool("/usr/bin/chattr", "/bin/chattr"))
        if geteuid() == 0 {
            #expect(try await runTool(chattr, ["+i", dir]).status == 0)
        } else {
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir)
        }
        defer {
            if geteuid() == 0 {
                _ = try? TestProcess.run(chattr, ["-i", dir])
            } else {
                try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir)
            }
        }
        for action in [["info"], ["get", "d1"], ["ls"], ["changes"], ["conflicts"]] {
            let run = try Self.bgsync(["db", path] + action)
            #expect(run.status == 0, "\(action): \(run.stderr)")
        }
        #expect(try Self.bgsync(["db", path, "ls"]).stdout.split(separator: "\n").count == 3)
        let put = try Self.bgsync(["db", path, "put", "x", "-"])
        #expect(put.status == 74, "\(put.stderr)")
    }

    @Test("a poison document is skipped and named in sync --json, the log, run --json and the state's history")
    func poisonReported() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try Self.seed(sandbox.localStore)
        try Self.seed(sandbox.root + "/data/backup.sqlite", count: 0)
        try Self.seed(sandbox.root + "/data/other.sqlite", count: 0)
        // As a version 1 file or a foreign writer could leave it: a body nested 600 deep.
        let store = try DocumentStore.open(at: sandbox.localStore)
        try store.write { _ = try $0.put(id: "poison", json: "{}") }
        let deep = "{\"a\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"
        let update = try TestProcess.run("/usr/bin/sqlite3", [sandbox.localStore, "UPDATE revs SET body = '\(deep)' WHERE rev_id = (SELECT winner FROM docs WHERE id = 'poison');"])
        #expect(update.status == 0, "\(update.stderr)")

        let sync = try Self.bgsync(["sync", sandbox.localStore, sandbox.root + "/data/other.sqlite", "--push-only", "--json"])
        #expect(sync.status == 0, "\(sync.stderr)")
        let result = try JSONValue.parse(Array(sync.stdout.utf8))
        #expect(result["push"]?["doc_write_failures"]?.intValue == 1, "\(sync.stdout)")
        #expect(result["push"]?["docs_written"]?.intValue == 3, "\(sync.stdout)")
        let failure = result["push"]?["failures"]?.arrayValue?.first
        #expect(failure?["id"]?.stringValue == "poison", "\(sync.stdout)")
        #expect(failure?["reason"]?.stringValue?.contains("nesting depth") == true, "\(sync.stdout)")
        #expect(sync.stderr.contains("poison"), "the log names it: \(sync.stderr)")

        try sandbox.registry(remote: "file:data/backup.sqlite")
        let job = try sandbox.job()
        // A job with another remote (its own checkpoints) meets the poison document too.
        let run = try await sandbox.bgsync(["run", job, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains(#""id":"poison""#), "\(run.stdout)")
        let history = try DBCommandTests.bgsync(["status", "--json", "--history", "5", "--state-dir", sandbox.state])
        let recorded = try Self.stateResults(sandbox.state)
        #expect(recorded.contains("poison") && recorded.contains("nesting depth"), "history: \(recorded.prefix(400)) \(history.stdout.prefix(200))")
    }

    /// The `result` column of every run in the state database, joined.
    static func stateResults(_ stateDirectory: String) throws -> String {
        let files = try FileManager.default.contentsOfDirectory(atPath: stateDirectory).filter { $0.hasSuffix(".sqlite") || $0.hasSuffix(".db") }
        var out = ""
        for file in files {
            out += try TestProcess.run("/usr/bin/sqlite3", [stateDirectory + "/" + file, "SELECT group_concat(result, ' ') FROM runs;"],
                                       stderr: .discard).stdout
        }
        return out
    }
}
