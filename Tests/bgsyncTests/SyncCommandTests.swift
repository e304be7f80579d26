import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// `bgsync sync LOCAL REMOTE`, run as a process against the fixture server (in the serialized
/// "bgsync run" suite, for the same reason).
extension RunCommandTests {
    @Test("sync pulls and pushes with --user and --password-file, prints the JSON contract, never the password")
    func syncWithPasswordFile() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        var configuration = FixtureServer.Configuration()
        configuration.users = ["alice": "s3cret-pw"]
        try await withFixtureServer(configuration) { server in
            let remote = try server.createDatabase("db")
            try remote.write { _ = try $0.put(id: "remote-doc", json: #"{"n":1.0}"#) }
            let local = sandbox.root + "/data/l.sqlite"
            try DocumentStore.open(at: local).write { _ = try $0.put(id: "local-doc", json: "{}") }
            let passwordFile = try sandbox.write("pw", "s3cret-pw\n", mode: 0o600)
            let run = try await sandbox.bgsync(["sync", local, server.url("db"), "--user", "alice", "--password-file", passwordFile, "--json"], stateDir: false)
            #expect(run.status == 0, "\(run.stderr)")
            let result = try JSONValue.parse(run.stdout)
            #expect(result["outcome"]?.stringValue == "synced")
            #expect(result["pull"]?["docs_written"]?.intValue == 1)
            #expect(result["push"]?["docs_written"]?.intValue == 1)
            #expect(result["pull"]?["start_seq"] != nil && result["pull"]?["last_seq"] != nil)
            #expect(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"))
            #expect(try remote.read { try $0.document("local-doc") }.contains("local-doc"))

            let readable = try sandbox.write("open-pw", "s3cret-pw\n", mode: 0o644)
            let refusedFile = try await sandbox.bgsync(["sync", local, server.url("db"), "--user", "alice", "--password-file", readable], stateDir: false)
            #expect(refusedFile.status == 77)
            #expect(refusedFile.stderr.contains("chmod 600"))
            let wrong = try sandbox.write("bad-pw", "nope\n", mode: 0o600)
            let refused = try await sandbox.bgsync(["sync", local, server.url("db"), "--user", "alice", "--password-file", wrong], stateDir: false)
            #expect(refused.status == 77)
            let missing = try await sandbox.bgsync(["sync", local, server.url("nope"), "--user", "alice", "--password-file", passwordFile], stateDir: false)
            #expect(missing.status == 69)
            #expect(missing.stderr.contains("nope"))
        }
    }

    @Test("a token command runs once per run, and its token authenticates")
    func tokenCommandRunsOnce() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        var configuration = FixtureServer.Configuration()
        configuration.bearerTokens = ["tok-123": "alice"]
        try await withFixtureServer(configuration) { server in
            let remote = try server.createDatabase("db")
            try remote.write { _ = try $0.put(id: "r", json: "{}") }
            let calls = sandbox.root + "/calls"
            let command = try sandbox.write("bin/get-token", "#!/bin/sh\necho call >> \(calls)\necho tok-123\n", mode: 0o755)
            try sandbox.registry(remote: server.url("db"), extra: "auth = { type = \"bearer\", token_command = [\"\(command)\"] }")
            let job = try sandbox.job()
            let run = try await sandbox.bgsync(["run", job, "--json"])
            #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
            #expect(try JSONValue.parse(run.stdout)["pull"]?["docs_written"]?.intValue == 1)
            let lines = try String(contentsOfFile: calls, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 1)
        }
    }
}

