import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Deadlines and stops reach whatever a run is doing (issue 12.1): the real binary against
/// servers that never answer, drip, refuse or throttle. Timing bounds carry wide margins (the
/// promise is 2 s after a stop; the tests allow 10 s) so that they hold on a loaded machine:
/// what they prove is that a stop ends the run instead of waiting for what hangs (30 s and
/// more in every case here), not the promise's figure, which a timed test on a shared 2-core
/// machine cannot hold to.
@Suite("Deadlines and stops")
struct DeadlineTests {
    /// The time a stopped bgsync may take to exit in these tests (the promise is 2 s; alone
    /// these runs stop in well under 1 s, and CI's full parallel suite once took 5.4 s).
    static let stopMargin = 10.0

    /// A sandbox whose job points at `remote`, with `schedule` lines in the job file.
    static func sandbox(remote: String, registry: String = "", schedule: String = "") throws -> JobSandbox {
        let sandbox = try JobSandbox()
        try sandbox.registry(remote: remote, extra: registry)
        try sandbox.job("job", body: schedule.isEmpty ? "" : "[schedule]\n" + schedule + "\n")
        return sandbox
    }

    /// The job's `status --json` object.
    static func status(_ sandbox: JobSandbox) async throws -> JSONObject {
        let jobs = try await sandbox.status()
        return try #require(jobs.first?.objectValue)
    }

    /// Sends `signal` to the running bgsync and returns its run and the seconds it took to exit
    /// (measured by the thread that waits for it, not by this busy test process).
    static func stop(_ running: TestProcess, signal: Int32 = SIGTERM) async throws -> (DBCommandTests.Run, Double) {
        let sent = Date()
        kill(running.pid, signal)
        let run = try await running.finish()
        return (run, (running.exitedAt ?? Date()).timeIntervalSince(sent))
    }

    /// Runs bgsync to its end; returns the run and its lifetime in seconds.
    static func timed(_ sandbox: JobSandbox, _ arguments: [String], stateDir: Bool = true) async throws -> (DBCommandTests.Run, Double) {
        let running = try sandbox.start(arguments, stateDir: stateDir)
        let run = try await running.finish()
        return (run, (running.exitedAt ?? Date()).timeIntervalSince(running.startedAt))
    }

    /// Runs `body` with a fixture server holding an empty `db` and a sandbox whose job points at
    /// it; stops the server and removes the sandbox afterwards, whatever happens.
    static func withServer(registry: String = "", _ body: (FixtureServer, JobSandbox) async throws -> Void) async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            let sandbox = try Self.sandbox(remote: server.url("db"), registry: registry)
            defer { sandbox.remove() }
            try await body(server, sandbox)
        }
    }

    /// Waits (up to 30 s) until `condition` holds; returns whether it did.
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<1500 {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test("a job with a 5 s timeout against a server that never answers ends in under 10 s: interrupted, 75, no backoff")
    func deadlineAgainstSilentServer() async throws {
        // The test drives signals by the clock: off the pool, so a parallel run cannot delay them.
        try await onDedicatedThreads {
            let silent = try SilentServer.start()
            defer { silent.stop() }
            let sandbox = try Self.sandbox(remote: "http://127.0.0.1:\(silent.port)/db", schedule: #"timeout = "5s""#)
            defer { sandbox.remove() }
            let (run, elapsed) = try await Self.timed(sandbox, ["run", sandbox.root + "/job.toml", "--json"])
            #expect(run.status == 75, "\(run.stderr)")
            #expect(elapsed < 10, "took \(elapsed) s")
            #expect(elapsed >= 4.5, "ended before its deadline: \(elapsed) s")
            let report = try #require(try JSONValue.parse(run.stdout).objectValue)
            #expect(report["outcome"]?.stringValue == "interrupted")
            #expect(report["reason"]?.stringValue?.contains("deadline reached (timeout 5s)") == true, "\(run.stdout)")
            let status = try await Self.status(sandbox)
            #expect(status["last_outcome"]?.stringValue == "interrupted")
            #expect(status["consecutive_failures"]?.intValue == 0)
        }
    }

    @Test("SIGTERM ends a run waiting for a response within 2 s: interrupted, 75, not a failure")
    func sigtermWhileWaiting() async throws {
        // The test drives signals by the clock: off the pool, so a parallel run cannot delay them.
        try await onDedicatedThreads {
            let silent = try SilentServer.start()
            defer { silent.stop() }
            let sandbox = try Self.sandbox(remote: "http://127.0.0.1:\(silent.port)/db")
            defer { sandbox.remove() }
            let running = try sandbox.start(["run", sandbox.root + "/job.toml"])
            #expect(await silent.waitForConnections())
            let (run, seconds) = try await Self.stop(running)
            #expect(run.status == 75, "\(run.stderr)")
            #expect(seconds < Self.stopMargin, "took \(seconds) s after SIGTERM")
            #expect(run.stderr.contains("stopped by SIGTERM"), "\(run.stderr)")
            let status = try await Self.status(sandbox)
            #expect(status["state"]?.stringValue == "interrupted")
            #expect(status["last_outcome"]?.stringValue == "interrupted")
            #expect(status["consecutive_failures"]?.intValue == 0)
        }
    }

    @Test("bgsync cancel ends a run waiting for a response within 2 s and says it was cancelled")
    func cancelWhileWaiting() async throws {
        // The test drives signals by the clock: off the pool, so a parallel run cannot delay them.
        try await onDedicatedThreads {
            let silent = try SilentServer.start()
            defer { silent.stop() }
            let sandbox = try Self.sandbox(remote: "http://127.0.0.1:\(silent.port)/db")
            defer { sandbox.remove() }
            let running = try sandbox.start(["run", sandbox.root + "/job.toml", "--json"])
            #expect(await silent.waitForConnections())
            let cancelling = try sandbox.start(["cancel", "job"])
            let cancel = try await cancelling.finish()
            #expect(cancel.status == 0, "\(cancel.stderr)")
            let run = try await running.finish()
            // From the end of `bgsync cancel` (which sent SIGTERM) to the end of the run.
            let seconds = (running.exitedAt ?? Date()).timeIntervalSince(cancelling.exitedAt ?? Date())
            #expect(run.status == 75, "\(run.stderr)")
            #expect(seconds < Self.stopMargin, "took \(seconds) s after bgsync cancel")
            let report = try #require(try JSONValue.parse(run.stdout).objectValue)
            #expect(report["outcome"]?.stringValue == "interrupted")
            #expect(report["reason"]?.stringValue?.hasPrefix("cancelled") == true, "\(run.stdout)")
        }
    }

    @Test("SIGTERM ends a run reading a dripping body within 2 s")
    func sigtermWhileReadingSlowBody() async throws {
        // The test drives signals by the clock: off the pool, so a parallel run cannot delay them.
        try await onDedicatedThreads {
            try await Self.withServer { server, sandbox in
                server.inject(.endlessBody(interval: 0.2, path: .contains("/_changes"), times: .max))
                let running = try sandbox.start(["run", sandbox.root + "/job.toml"])
                #expect(try await Self.eventually { server.requests().contains { $0.path.contains("/_changes") } })
                try await Task.sleep(for: .milliseconds(500))
                let (run, seconds) = try await Self.stop(running)
                #expect(run.status == 75, "\(run.stderr)")
                #expect(seconds < Self.stopMargin, "took \(seconds) s after SIGTERM")
            }
        }
    }

    @Test("SIGINT ends a run waiting to retry (Retry-After) within 2 s")
    func sigintWhileWaitingToRetry() async throws {
        // The test drives signals by the clock: off the pool, so a parallel run cannot delay them.
        try await onDedicatedThreads {
            try await Self.withServer { server, sandbox in
                server.inject(.tooManyRequests(retryAfter: 60, path: .exact("/db"), times: .max))
                let running = try sandbox.start(["run", sandbox.root + "/job.toml"])
                #expect(try await Self.eventually { server.requests().contains { $0.status == 429 } })
                let (run, seconds) = try await Self.stop(running, signal: SIGINT)
                #expect(run.status == 75, "\(run.stderr)")
                #expect(seconds < Self.stopMargin, "took \(seconds) s after SIGINT")
                #expect(run.stderr.contains("stopped by SIGINT"), "\(run.stderr)")
            }
        }
    }

    @Test("SIGTERM ends a run whose exec factory hangs within 2 s")
    func sigtermWhileFactoryRuns() async throws {
        // The test drives signals by the clock: off the pool, so a parallel run cannot delay them.
        try await onDedicatedThreads {
            let sandbox = try JobSandbox()
            defer { sandbox.remove() }
            let marker = sandbox.root + "/factory-started"
            try sandbox.write("factory.sh", "#!/bin/sh\ntouch '\(marker)'\nexec sleep 300\n", mode: 0o755)
            try sandbox.write("registry.toml", """
                [factories.main]
                kind = "exec"
                command = ["\(sandbox.root)/factory.sh"]
                timeout = "10m"
                """)
            try sandbox.job("job")
            let running = try sandbox.start(["run", sandbox.root + "/job.toml"])
            #expect(try await Self.eventually { FileManager.default.fileExists(atPath: marker) })
            let (run, seconds) = try await Self.stop(running)
            #expect(run.status == 75, "\(run.stderr)")
            #expect(seconds < Self.stopMargin, "took \(seconds) s after SIGTERM")
        }
    }

    @Test("SIGTERM ends a run whose hook hangs within 2 s, and the hook's children with it")
    func sigtermWhileHookRuns() async throws {
        // The test drives signals by the clock: off the pool, so a parallel run cannot delay them.
        try await onDedicatedThreads {
            let sandbox = try JobSandbox()
            defer { sandbox.remove() }
            let marker = sandbox.root + "/hook-started"
            let child = sandbox.root + "/hook-child.pid"
            // The hook starts a child of its own and waits: the whole group must go.
            try sandbox.write("hook.sh", "#!/bin/sh\nsleep 300 &\necho $! > '\(child)'\ntouch '\(marker)'\nwait\n", mode: 0o755)
            try sandbox.registry(remote: "file:data/remote.sqlite", extra: "create_target = true")
            try sandbox.job("job", body: "[hooks]\ntimeout = \"10m\"\non_success = [\"\(sandbox.root)/hook.sh\"]\n")
            let running = try sandbox.start(["run", sandbox.root + "/job.toml"])
            #expect(try await Self.eventually { FileManager.default.fileExists(atPath: marker) })
            let (run, seconds) = try await Self.stop(running)
            #expect(run.status == 0, "the run synced before its hook: \(run.stderr)")
            #expect(seconds < Self.stopMargin, "took \(seconds) s after SIGTERM")
            let pid = try #require(Int32(String(decoding: try Data(contentsOf: URL(fileURLWithPath: child)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(try await Self.eventually { kill(pid, 0) != 0 }, "the hook's child \(pid) outlived the stop")
        }
    }

    @Test("a refused connection fails fast and says so plainly")
    func refusedConnection() async throws {
        let closed = try SilentServer.start()
        let port = closed.port
        closed.stop()
        let sandbox = try Self.sandbox(remote: "http://127.0.0.1:\(port)/db")
        defer { sandbox.remove() }
        let (run, elapsed) = try await Self.timed(sandbox, ["run", sandbox.root + "/job.toml"])
        #expect(run.status == 69, "\(run.stderr)")
        #expect(run.stderr.contains("connection refused (after 6 attempts)"), "\(run.stderr)")
        #expect(!run.stderr.contains("errno"), "\(run.stderr)")
        // Five backoff waits of at most 0.25 + 0.5 + 1 + 2 + 4 s: well under the old minute.
        #expect(elapsed < 20, "took \(elapsed) s")
    }

    @Test("a response that stops sending fails at the stall timeout")
    func stallTimeout() async throws {
        try await Self.withServer(registry: "stall_timeout = \"1s\"\nmax_retries = 1\nretry_delay = \"10ms\"") { server, sandbox in
            server.inject(.endlessBody(interval: 3600, path: .contains("/_changes"), times: .max))
            let (run, elapsed) = try await Self.timed(sandbox, ["run", sandbox.root + "/job.toml"])
            #expect(run.status == 69, "\(run.stderr)")
            #expect(run.stderr.contains("stopped sending (stall timeout)"), "\(run.stderr)")
            #expect(elapsed < 15, "took \(elapsed) s")
        }
    }

    @Test("retries stop at retry_time: a long Retry-After is not waited for")
    func retryTime() async throws {
        try await Self.withServer(registry: #"retry_time = "5s""#) { server, sandbox in
            server.inject(.tooManyRequests(retryAfter: 60, path: .exact("/db"), times: .max))
            let (run, elapsed) = try await Self.timed(sandbox, ["run", sandbox.root + "/job.toml"])
            #expect(run.status == 75, "\(run.stderr)")
            #expect(run.stderr.contains("would pass the retry time of 5 s"), "\(run.stderr)")
            #expect(elapsed < 15, "took \(elapsed) s")
            let status = try await Self.status(sandbox)
            #expect(status["last_outcome"]?.stringValue == "failed")
            #expect(status["consecutive_failures"]?.intValue == 1)
        }
    }

    @Test("bgsync sync honours --timeout and SIGTERM")
    func syncTimeoutAndSignal() async throws {
        // The test drives signals by the clock: off the pool, so a parallel run cannot delay them.
        try await onDedicatedThreads {
            let silent = try SilentServer.start()
            defer { silent.stop() }
            let sandbox = try JobSandbox()
            defer { sandbox.remove() }
            let remote = "http://127.0.0.1:\(silent.port)/db"
            let (timed, elapsed) = try await Self.timed(sandbox, ["sync", sandbox.root + "/a.sqlite", remote, "--timeout", "2s", "--json"], stateDir: false)
            #expect(timed.status == 75, "\(timed.stderr)")
            #expect(elapsed < 2 + Self.stopMargin, "took \(elapsed) s")
            let report = try #require(try JSONValue.parse(timed.stdout).objectValue)
            #expect(report["outcome"]?.stringValue == "interrupted")

            let running = try sandbox.start(["sync", sandbox.root + "/b.sqlite", remote], stateDir: false)
            #expect(await silent.waitForConnections(2))
            let (run, seconds) = try await Self.stop(running)
            #expect(run.status == 75, "\(run.stderr)")
            #expect(seconds < Self.stopMargin, "took \(seconds) s after SIGTERM")
            #expect(run.stderr.contains("stopped by SIGTERM"), "\(run.stderr)")
        }
    }

    @Test("timeouts in the registry and on sync are checked")
    func timeoutValidation() async throws {
        let sandbox = try Self.sandbox(remote: "http://127.0.0.1:9/db", registry: #"connect_timeout = "0s""#)
        defer { sandbox.remove() }
        let check = try await sandbox.bgsync(["run", sandbox.root + "/job.toml"])
        #expect(check.status == 78, "\(check.stderr)")
        #expect(check.stderr.contains("connect_timeout"), "\(check.stderr)")
        let sync = try await sandbox.bgsync(["sync", sandbox.root + "/a.sqlite", "http://127.0.0.1:9/db", "--timeout", "soon"], stateDir: false)
        #expect(sync.status == 64, "\(sync.stderr)")
        #expect(sync.stderr.contains("--timeout soon"), "\(sync.stderr)")
    }
}
