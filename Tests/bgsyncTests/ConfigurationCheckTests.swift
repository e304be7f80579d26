import BGSyncStore
import Foundation
import Testing

/// Configuration is checked before anything runs (issue 13.4): `check` and `run` refuse the
/// same mistakes with exit 78, naming the file, the key and what would be accepted.
@Suite("Configuration checked up front")
struct ConfigurationCheckTests {
    /// A sandbox with a `file:` remote (so that nothing needs a server), registry lines `extra`.
    static func sandbox(extra: String = "", job: String = "") throws -> JobSandbox {
        let sandbox = try JobSandbox()
        try sandbox.registry(remote: "file:data/remote.sqlite", extra: extra)
        try sandbox.job("job", body: job)
        return sandbox
    }

    /// `check` and `run` of the sandbox's job: both must exit 78 with `expected` on stderr.
    static func expectRefused(_ sandbox: JobSandbox, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for command in ["check", "run"] {
            let result = try await sandbox.bgsync([command, sandbox.root + "/job.toml"])
            #expect(result.status == 78, "\(command): \(result.stdout) \(result.stderr)", sourceLocation: sourceLocation)
            for text in expected {
                #expect(result.stderr.contains(text), "\(command): \(result.stderr)", sourceLocation: sourceLocation)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: sandbox.localStore), "nothing was created", sourceLocation: sourceLocation)
    }

    @Test("a NUL byte in a job file is refused with its byte offset, not read as the end of the file")
    func nulByte() async throws {
        let sandbox = try Self.sandbox()
        defer { sandbox.remove() }
        try Data("factory = \"main\"\n\0\n[schedule]\ninterval = \"nonsense\"\n".utf8)
            .write(to: URL(fileURLWithPath: sandbox.root + "/job.toml"))
        try await Self.expectRefused(sandbox, ["job.toml:2", "a NUL byte at byte offset 17"])
    }

    @Test("invalid UTF-8 in a registry is refused with its byte offset")
    func invalidUTF8() async throws {
        let sandbox = try Self.sandbox()
        defer { sandbox.remove() }
        var bytes = Array("[factories.main]\ndatabase = \"data/local.sqlite\"\nremote = \"file:data/r".utf8)
        let offset = bytes.count
        bytes += [0xC3, 0x28] + Array("emote.sqlite\"\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: sandbox.root + "/registry.toml"))
        try await Self.expectRefused(sandbox, ["registry.toml:3", "invalid UTF-8 at byte offset \(offset) (byte 0xC3)"])
    }

    @Test("a backoff max below its delay is refused")
    func backoffMaxBelowDelay() async throws {
        let sandbox = try Self.sandbox(job: "[backoff]\ndelay = \"10m\"\nmax = \"1m\"\n")
        defer { sandbox.remove() }
        try await Self.expectRefused(sandbox, ["max", "max (1m) is below delay (10m)"])
    }

    @Test("a push filter's sql_where is checked against the documents view: 78 naming the key, not 74 mid-run")
    func sqlWhere() async throws {
        let sandbox = try Self.sandbox(extra: #"push_filter = { sql_where = "nonexistent_column = 1" }"#)
        defer { sandbox.remove() }
        try await Self.expectRefused(sandbox, ["sql_where", "no such column: nonexistent_column"])
        let valid = try Self.sandbox(extra: #"push_filter = { sql_where = "json_extract(body, '$.type') = 'note' AND NOT deleted" }"#)
        defer { valid.remove() }
        let check = try await valid.bgsync(["check", valid.root + "/job.toml"])
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test("an unreadable ca_file and a missing database directory are configuration errors")
    func filesAndDirectories() async throws {
        let caFile = try Self.sandbox(extra: #"tls = { ca_file = "missing-ca.pem" }"#)
        defer { caFile.remove() }
        try await Self.expectRefused(caFile, ["ca_file", "missing-ca.pem: no such file"])

        let directory = try JobSandbox()
        defer { directory.remove() }
        try directory.write("registry.toml", """
            [factories.main]
            database = "no-such-dir/local.sqlite"
            remote = "file:data/remote.sqlite"
            """)
        try directory.job("job")
        try await Self.expectRefused(directory, ["database", "no-such-dir does not exist"])
    }
}
