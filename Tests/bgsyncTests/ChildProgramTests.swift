import BGSyncStore
import Foundation
import Testing

/// Programs that bgsync runs (hooks, exec factories) and do not read their stdin: bgsync used to
/// die of SIGPIPE (exit 141, nothing printed, state "process died").
@Suite("Child programs through the bgsync binary")
struct ChildProgramTests {
    @Test("a hook that does not read its stdin does not kill bgsync")
    func hookIgnoringStdin() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.registry(remote: sandbox.root + "/data/remote.sqlite")
        try sandbox.mains(online: false)
        try sandbox.battery(percent: 5, status: "Discharging")
        let job = try sandbox.job(body: """
            [constraints]
            battery_not_low = true
            [hooks]
            on_skip = ["/bin/sh", "-c", "exit 0"]
            """)
        for attempt in 0..<3 {
            let run = try await sandbox.bgsync(["run", job, "--json"])
            #expect(run.status == 0, "attempt \(attempt): exit \(run.status): \(run.stderr)")
            #expect(try JSONValue.parse(run.stdout)["outcome"]?.stringValue == "skipped")
            #expect(!run.stderr.contains("hook"), "\(run.stderr)")
        }
        let status = try #require(try await sandbox.status().first)
        #expect(status["last_outcome"]?.stringValue == "skipped", "\(status)")
        #expect(!"\(status)".contains("process died"), "\(status)")
    }

    @Test("an exec factory that ignores a large input and prints garbage gives exit 78 with a clear message")
    func execFactoryPrintingGarbage() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.write("registry.toml", """
            [factories.main]
            kind = "exec"
            command = ["/bin/sh", "-c", "echo this is not json"]
            """)
        // 1 MB of input, far more than a pipe holds: the factory exits without reading it.
        let job = try sandbox.job(body: "[input]\nblob = \"\(String(repeating: "x", count: 1 << 20))\"\n")
        let run = try await sandbox.bgsync(["run", job, "--json"])
        #expect(run.status == 78, "exit \(run.status): \(run.stderr)")
        #expect(run.stderr.contains("exec factory main: /bin/sh printed invalid JSON"), "\(run.stderr)")
        let status = try #require(try await sandbox.status().first)
        #expect(status["last_outcome"]?.stringValue == "failed", "\(status)")
        #expect(!"\(status)".contains("process died"), "\(status)")
    }
}
