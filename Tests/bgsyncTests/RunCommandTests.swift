import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// `bgsync run`, `status`, `cancel`, `resume`, `check` and `factories`, run as processes.
/// Serialized: each test runs child processes against a fixture server in this process, and
/// several at once on a 2-core machine starve the server of threads.
@Suite("bgsync run", .serialized)
struct RunCommandTests {
    /// A sandbox with a fixture server holding database `db` with `documents` documents.
    func withServerSandbox(documents: Int = 5, configuration: FixtureServer.Configuration = FixtureServer.Configuration(),
                           _ body: (JobSandbox, FixtureServer) async throws -> Void) async throws {
        try await JobSandbox.withServer(documents: documents, configuration: configuration, body)
    }

    @Test("a job syncs (exit 0), status shows it, the next run is not due, --force runs")
    func syncedThenNotDue() async throws {
        try await withServerSandbox { sandbox, server in
            try sandbox.registry(remote: server.url("db"))
            let job = try sandbox.job(body: "[schedule]\ninterval = \"1h\"\n")
            let first = try await sandbox.bgsync(["run", job, "--json"])
            #expect(first.status == 0, "\(first.stderr)")
            let result = try JSONValue.parse(first.stdout)
            #expect(result["outcome"]?.stringValue == "synced")
            #expect(result["pull"]?["docs_written"]?.intValue == 5)
            let status = try await sandbox.status()
            #expect(status.first?["tag"]?.stringValue == "job")
            #expect(status.first?["last_outcome"]?.stringValue == "synced")
            #expect(status.first?["last_success"]?.stringValue != nil)

            let second = try await sandbox.bgsync(["run", job, "--json"])
            #expect(second.status == 0)
            let skipped = try JSONValue.parse(second.stdout)
            #expect(skipped["outcome"]?.stringValue == "skipped")
            #expect(skipped["reason"]?.stringValue?.contains("not due until") == true)

            let forced = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(forced.status == 0)
            #expect(try JSONValue.parse(forced.stdout)["outcome"]?.stringValue == "synced")
        }
    }

    @Test("a battery at 5 % discharging skips with the measured value")
    func lowBattery() async throws {
        try await withServerSandbox { sandbox, server in
            try sandbox.registry(remote: server.url("db"))
            try sandbox.mains(online: false)
            try sandbox.battery(percent: 5, status: "Discharging")
            let job = try sandbox.job(body: "[constraints]\nbattery_not_low = true\n")
            let run = try await sandbox.bgsync(["run", job, "--json"])
            #expect(run.status == 0)
            let result = try JSONValue.parse(run.stdout)
            #expect(result["outcome"]?.stringValue == "skipped")
            #expect(result["reason"]?.stringValue?.contains("battery") == true)
            #expect(result["reason"]?.stringValue?.contains("5") == true)
            #expect(server.requestCount == 0)
        }
    }

    @Test("a metered network (NetworkManager via nmcli) skips an unmetered job")
    func meteredNetwork() async throws {
        try await withServerSandbox { sandbox, server in
            try sandbox.registry(remote: server.url("db"))
            try sandbox.nmcli(metered: "yes")
            let job = try sandbox.job(body: "[constraints]\nnetwork = \"unmetered\"\n")
            let run = try await sandbox.bgsync(["run", job, "--json"])
            #expect(run.status == 0)
            let result = try JSONValue.parse(run.stdout)
            #expect(result["outcome"]?.stringValue == "skipped")
            #expect(result["reason"]?.stringValue?.contains("metered") == true)
            try sandbox.nmcli(metered: "no")
            let again = try await sandbox.bgsync(["run", job, "--json"])
            #expect(try JSONValue.parse(again.stdout)["outcome"]?.stringValue == "synced")
        }
    }

    @Test("failures exit 75 and back off longer each time; success resets")
    func backoff() async throws {
        try await withServerSandbox { sandbox, server in
            try sandbox.registry(remote: server.url("db"), extra: "max_retries = 0")
            let job = try sandbox.job(body: "[backoff]\ndelay = \"10m\"\n")
            server.inject(.status(503, path: .suffix("/_changes"), times: 100))
            let first = try await sandbox.bgsync(["run", job, "--json"])
            #expect(first.status == 75, "\(first.stdout) \(first.stderr)")
            let afterOne = try #require(try await sandbox.status().first)
            #expect(afterOne["consecutive_failures"]?.intValue == 1)
            #expect(afterOne["state"]?.stringValue == "backing-off")
            let skipped = try await sandbox.bgsync(["run", job, "--json"])
            #expect(try JSONValue.parse(skipped.stdout)["reason"]?.stringValue?.contains("backing off") == true)
            let second = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(second.status == 75)
            let afterTwo = try #require(try await sandbox.status().first)
            #expect(afterTwo["consecutive_failures"]?.intValue == 2)
            let next1 = try #require(afterOne["next_eligible"]?.stringValue)
            let next2 = try #require(afterTwo["next_eligible"]?.stringValue)
            #expect(next2 > next1)
            server.clearFaults()
            let ok = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(ok.status == 0)
            #expect(try await sandbox.status().first?["consecutive_failures"]?.intValue == 0)
        }
    }

    @Test("two concurrent runs: exactly one syncs, the other records already running")
    func concurrentRuns() async throws {
        try await withServerSandbox(documents: 20) { sandbox, server in
            try sandbox.registry(remote: server.url("db"), extra: "batch_size = 5")
            let job = try sandbox.job()
            server.inject(.delay(seconds: 0.3, path: .suffix("/_bulk_get"), times: 100))
            let a = try sandbox.start(["run", job, "--json"])
            let b = try sandbox.start(["run", job, "--json"])
            let results = [try await a.finish(), try await b.finish()]
            #expect(results.allSatisfy { $0.status == 0 })
            let outcomes = try results.map { try JSONValue.parse($0.stdout)["outcome"]?.stringValue }
            #expect(outcomes.sorted { ($0 ?? "") < ($1 ?? "") } == ["skipped", "synced"])
            let skipped = try results.map { try JSONValue.parse($0.stdout) }.first { $0["outcome"]?.stringValue == "skipped" }
            #expect(skipped?["reason"]?.stringValue?.contains("already running") == true)
        }
    }

    @Test("SIGTERM mid-sync exits 75 with a checkpoint; the next run finishes without re-downloading")
    func sigterm() async throws {
        // Enough batches (24, each answered after 0.4 s, 3 read ahead) that the run is still going
        // when a loaded machine gets round to stopping it.
        let total = 120
        try await withServerSandbox(documents: total) { sandbox, server in
            try sandbox.registry(remote: server.url("db"), extra: "batch_size = 5\ndirection = \"pull\"")
            let job = try sandbox.job()
            server.inject(.delay(seconds: 0.4, path: .suffix("/_bulk_get"), times: 100))
            let run = try sandbox.start(["run", job, "--json"])
            let store = sandbox.localStore
            // Wait until at least one batch is stored, then stop it.
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if let count = try? DocumentStore.open(at: store, mode: .readOnly).read({ try $0.info().documentCount }), count >= 5 { break }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            kill(run.pid, SIGTERM)
            let stopped = try await run.finish()
            #expect(stopped.status == 75, "\(stopped.stdout) \(stopped.stderr)")
            #expect(try JSONValue.parse(stopped.stdout)["outcome"]?.stringValue == "interrupted")
            let done = try DocumentStore.open(at: store).read { try $0.info().documentCount }
            #expect(done >= 5 && done < total)
            server.clearFaults()
            let rest = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(rest.status == 0)
            let result = try JSONValue.parse(rest.stdout)
            #expect(result["pull"]?["docs_read"]?.intValue == total - done)
            #expect(try DocumentStore.open(at: store).read { try $0.info().documentCount } == total)
        }
    }

    @Test("a deadline (schedule.timeout) interrupts at a batch boundary: exit 75, outcome interrupted")
    func deadline() async throws {
        try await withServerSandbox(documents: 30) { sandbox, server in
            try sandbox.registry(remote: server.url("db"), extra: "batch_size = 5\ndirection = \"pull\"")
            let job = try sandbox.job(body: "[schedule]\ntimeout = \"1s\"\n")
            server.inject(.delay(seconds: 0.4, path: .suffix("/_bulk_get"), times: 100))
            let run = try await sandbox.bgsync(["run", job, "--json"])
            #expect(run.status == 75)
            let result = try JSONValue.parse(run.stdout)
            #expect(result["outcome"]?.stringValue == "interrupted")
            #expect(result["reason"]?.stringValue?.contains("deadline") == true)
        }
    }

    @Test("an exec factory builds the configuration from the job's input")
    func execFactory() async throws {
        try await withServerSandbox { sandbox, server in
            let program = try sandbox.write("bin/make-config", """
                #!/usr/bin/env python3
                import json, sys
                data = json.load(sys.stdin)
                print(json.dumps({"database": data["dir"] + "/exec.sqlite", "remote": "\(server.url("db"))", "direction": "pull"}))
                """, mode: 0o755)
            try sandbox.write("registry.toml", "[factories.main]\nkind = \"exec\"\ncommand = [\"\(program)\"]\n")
            let job = try sandbox.job(body: "[input]\ndir = \"\(sandbox.root)/data\"\n")
            let run = try await sandbox.bgsync(["run", job, "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(try DocumentStore.open(at: sandbox.root + "/data/exec.sqlite").read { try $0.info().documentCount } == 5)

            try sandbox.write("bin/make-config", "#!/bin/sh\necho oops >&2\nexit 3\n", mode: 0o755)
            let failing = try await sandbox.bgsync(["run", job, "--force"])
            #expect(failing.status == 78)
            #expect(failing.stderr.contains("make-config"))
        }
    }

    @Test("cancel disables a job (by path, before its first run); resume enables it (by its tag)")
    func cancelResume() async throws {
        try await withServerSandbox { sandbox, server in
            try sandbox.registry(remote: server.url("db"))
            let job = try sandbox.job()
            #expect(try await sandbox.bgsync(["cancel", job]).status == 0)
            let run = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(try JSONValue.parse(run.stdout)["reason"]?.stringValue?.contains("cancelled") == true)
            #expect(try await sandbox.status().first?["state"]?.stringValue == "cancelled")
            #expect(try await sandbox.bgsync(["resume", "job"]).status == 0)
            let again = try await sandbox.bgsync(["run", job, "--json"])
            #expect(try JSONValue.parse(again.stdout)["outcome"]?.stringValue == "synced")
        }
    }

    @Test("check validates and shows constraints; factories lists the registry")
    func checkAndFactories() async throws {
        try await withServerSandbox { sandbox, server in
            let registry = try sandbox.registry(remote: server.url("db"))
            let job = try sandbox.job(body: "[constraints]\nbattery_not_low = true\nnetwork = \"connected\"\n")
            let check = try await sandbox.bgsync(["check", job, "--json"])
            #expect(check.status == 0, "\(check.stderr)")
            let result = try JSONValue.parse(check.stdout)
            #expect(result["due"]?.stringValue == "due now")
            #expect(result["constraints"]?.arrayValue?.count == 2)
            let factories = try await sandbox.bgsync(["factories", "--registry", registry], stateDir: false)
            #expect(factories.stdout.contains("main\tdeclarative"))
        }
    }

    @Test("bad job files and registries exit 78 naming the file and key", arguments: [
        ("factory = \"main\"\nintervall = \"1h\"\n", "did you mean"),
        ("factory = \"main\"\n[schedule]\ninterval = \"soon\"\n", "interval"),
        ("factory = \"nope\"\n", "no factory named"),
        ("factory = \"main\"\n[constraints]\nnetwork = \"wifi\"\n", "network"),
        ("factory = = \n", "syntax"),
        ("factory = \"main\"\n[schedule]\ninterval = 5.5\n", "interval"),
        ("factory = \"uses-input\"\n", "${input.user}"),
        ("registry = \"missing.toml\"\nfactory = \"main\"\n", "missing.toml"),
    ])
    func badInput(text: String, expected: String) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.write("registry.toml", """
            [factories.main]
            database = "data/local.sqlite"
            remote = "http://127.0.0.1:9/db"
            [factories.uses-input]
            database = "data/${input.user}.sqlite"
            remote = "http://127.0.0.1:9/db"
            """)
        let job = try sandbox.write("bad.toml", text)
        let run = try await sandbox.bgsync(["run", job])
        #expect(run.status == 78, "\(run.stderr)")
        #expect(run.stderr.contains("bad.toml") || run.stderr.contains("registry.toml") || run.stderr.contains("missing.toml"))
        #expect(run.stderr.contains(expected), "\(run.stderr)")
    }

    @Test("a missing job file exits 66; a group-writable one or a world-readable password file exits 77")
    func filesAndPermissions() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        #expect(try await sandbox.bgsync(["run", sandbox.root + "/nope.toml"]).status == 66)
        try sandbox.registry(remote: "http://127.0.0.1:9/db", extra: "auth = { user = \"alice\", password_file = \"secret\" }")
        try sandbox.write("secret", "hunter2\n", mode: 0o644)
        let job = try sandbox.job()
        let readable = try await sandbox.bgsync(["run", job])
        #expect(readable.status == 77)
        #expect(readable.stderr.contains("chmod 600"))
        #expect(!readable.stderr.contains("hunter2"))
        let writable = try sandbox.write("open.toml", "factory = \"main\"\n", mode: 0o666)
        let refused = try await sandbox.bgsync(["run", writable])
        #expect(refused.status == 77)
        #expect(refused.stderr.contains("chmod go-w"))
    }

    @Test("a job syncs with a second local store through the registry (no server)")
    func localPeer() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.registry(remote: "file:data/hub.sqlite")
        let hub = try DocumentStore.open(at: sandbox.root + "/data/hub.sqlite")
        try hub.write { _ = try $0.put(id: "from-hub", json: "{}") }
        let job = try sandbox.job()
        let run = try await sandbox.bgsync(["run", job, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try DocumentStore.open(at: sandbox.localStore).read { try $0.allDocuments().map(\.id) } == ["from-hub"])
    }
}
