import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Several `bgsync run` processes at once: of one job (cron firing while a run is still going,
/// a manual run beside the timer), and of different jobs on one database.
///
/// The runs are held inside their factory (an `exec` factory that waits for a gate file) until
/// the test has seen all the others arrive, so the overlap does not depend on timing.
@Suite("concurrent runs", .serialized)
struct ConcurrentRunTests {
    /// A sandbox whose factory `main` is an exec program that records its arrival, waits for
    /// `gate`, then answers with the local store and the server's `db`.
    func withGatedSandbox(direction: String, _ body: (JobSandbox, FixtureServer) async throws -> Void) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer { server in
            try server.createDatabase("db")
            let program = try sandbox.write("bin/gated-config", """
                #!/bin/sh
                cat >/dev/null
                touch "\(sandbox.root)/arrived.$$"
                while [ ! -f "\(sandbox.root)/gate" ]; do sleep 0.02; done
                echo '{"database": "\(sandbox.localStore)", "remote": "\(server.url("db"))", "direction": "\(direction)", "batch_size": 50}'
                """, mode: 0o755)
            try sandbox.write("registry.toml", "[factories.main]\nkind = \"exec\"\ncommand = [\"\(program)\"]\n")
            try await body(sandbox, server)
        }
    }

    /// The factory programs that have started (each waits at the gate).
    func arrivals(_ sandbox: JobSandbox) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: sandbox.root).filter { $0.hasPrefix("arrived.") }.count
    }

    /// Waits (at most a minute) until `condition` holds.
    func waitUntil(_ what: String, _ condition: () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(60)
        while try !condition() {
            guard Date() < deadline else {
                Issue.record("gave up waiting until \(what)")
                return
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    @Test("8 simultaneous runs of one job: exactly one syncs, seven record \"already running\", all exit 0")
    func eightRunsOfOneJob() async throws {
        try await withGatedSandbox(direction: "pull") { sandbox, server in
            let remote = try #require(server.database("db"))
            try await offPool { try MixedDataset.seed(remote, range: 0..<200, seed: 11) }
            let job = try sandbox.job()
            // No state database yet: all eight create and open it at once.
            let runs = try (0..<8).map { _ in try sandbox.start(["run", job, "--json"]) }
            try await waitUntil("one run is in its factory and seven have ended") {
                try arrivals(sandbox) == 1 && runs.filter { $0.isRunning }.count == 1
            }
            try sandbox.write("gate", "")
            var results: [DBCommandTests.Run] = []
            for run in runs { results.append(try await run.finish()) }
            #expect(results.map(\.status) == Array(repeating: 0, count: 8), "\(results.map(\.stderr))")
            let outcomes = try results.map { try JSONValue.parse($0.stdout) }
            #expect(outcomes.filter { $0["outcome"]?.stringValue == "synced" }.count == 1, "\(outcomes)")
            let skipped = outcomes.filter { $0["outcome"]?.stringValue == "skipped" }
            #expect(skipped.count == 7)
            #expect(skipped.allSatisfy { $0["reason"]?.stringValue?.contains("already running") == true }, "\(skipped)")
            #expect(try arrivals(sandbox) == 1, "the factory ran more than once")

            let status = try await sandbox.bgsync(["status", "--json", "--history", "20"])
            let record = try #require(try JSONValue.parse(status.stdout).arrayValue?.first, "\(status.stdout) \(status.stderr)")
            let history = record["history"]?.arrayValue ?? []
            #expect(history.count == 8)
            #expect(history.filter { $0["outcome"]?.stringValue == "synced" }.count == 1, "\(history)")
            #expect(history.filter { $0["outcome"]?.stringValue == "skipped" && $0["reason"]?.stringValue?.contains("already running") == true }.count == 7)
            #expect(record["state"]?.stringValue != "running")
            let path = sandbox.localStore
            let differences = try await offPool {
                StoreContents.differences(try StoreContents.read(try DocumentStore.open(at: path, mode: .readOnly)), try StoreContents.read(remote))
            }
            #expect(differences == [])
        }
    }

    @Test("two jobs on one database at the same time both complete, and the data converges")
    func twoJobsOnOneDatabase() async throws {
        try await withGatedSandbox(direction: "pull-and-push") { sandbox, server in
            let remote = try #require(server.database("db"))
            let local = try DocumentStore.open(at: sandbox.localStore)
            try await offPool {
                try MixedDataset.seed(remote, range: 0..<300, prefix: "d", seed: 21)
                try MixedDataset.seed(local, range: 0..<300, prefix: "e", seed: 22)
            }
            let jobs = [try sandbox.job("a"), try sandbox.job("b")]
            for round in 1...2 {
                let runs = try jobs.map { try sandbox.start(["run", $0, "--force", "--json"]) }
                try await waitUntil("both runs are in their factory (round \(round))") { try arrivals(sandbox) == 2 * round }
                try sandbox.write("gate", "")
                for (job, run) in zip(jobs, runs) {
                    let result = try await run.finish()
                    #expect(result.status == 0, "\(job): \(result.stdout) \(result.stderr)")
                    #expect((try? JSONValue.parse(result.stdout))?["outcome"]?.stringValue == "synced", "\(result.stdout)")
                }
                try FileManager.default.removeItem(atPath: sandbox.root + "/gate")
                let differences = try await offPool { StoreContents.differences(try StoreContents.read(local), try StoreContents.read(remote)) }
                #expect(differences == [], "round \(round)")
                #expect(try StoreFileCheck.problems(sandbox.localStore) == [])
                // More on both sides for the second round.
                var rng = SeededRandom(seed: UInt64(round))
                try MixedDataset.mutate(remote, range: 0..<300, prefix: "d", count: 50, rng: &rng)
                try MixedDataset.mutate(local, range: 0..<300, prefix: "e", count: 50, rng: &rng)
            }
        }
    }
}
