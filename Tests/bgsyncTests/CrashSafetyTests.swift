import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Power loss, OOM kills and `kill -9` in the middle of a sync: `bgsync run` (the real binary)
/// is SIGKILLed at random moments of a pull, a push, and a pull-and-push during which the
/// application writes through the `documents` view. After every kill both SQLite files pass
/// `integrity_check`, a rerun completes, and both sides hold the same documents, revision
/// trees, winners, conflict sets and attachments (see ``CrashScenario``).
///
/// Each scenario grows the data by 500 mixed documents (conflicts, deleted conflicts,
/// tombstones, attachments; ``MixedDataset``) plus 100 changes to older ones per kill: with
/// the default 20 kills, ~10,500 documents. `BGSYNC_SOAK=N` makes N kills (a longer soak);
/// `BGSYNC_SEED=S` repeats a run's random choices.
@Suite("crash safety: SIGKILL during bgsync run", .serialized)
struct CrashSafetyTests {
    static let slice = 500
    static let mutations = 100

    /// A sandbox with a fixture server holding an empty database `db`, whose job syncs the
    /// local store with it in `direction`.
    func withScenario(_ name: String, direction: String, _ body: (CrashScenario, FixtureServer) async throws -> Void) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            try sandbox.registry(remote: server.url("db"), extra: "direction = \"\(direction)\"\nbatch_size = 100")
            let job = try sandbox.job()
            let local = try DocumentStore.open(at: sandbox.localStore)
            let scenario = CrashScenario(name: name, sandbox: sandbox, job: job, local: local, remote: remote,
                                         requests: { server.requestCount }, seed: SeededRandom.seedFromEnvironment())
            try await body(scenario, server)
        }
    }

    /// Before each run of a one-way scenario: a new slice of mixed documents in `store`, and
    /// mutations of older ones; returns the ids touched.
    static func change(_ store: DocumentStore, iteration: Int, rng: inout SeededRandom) throws -> Set<String> {
        let start = iteration * slice
        var touched = try grow(store, start: start, prefix: "d", seed: rng.next())
        touched.formUnion(try MixedDataset.mutate(store, range: 0..<start, count: mutations, rng: &rng))
        return touched
    }

    @Test("pull: SIGKILLed 20 times, every rerun converges with nothing lost")
    func pull() async throws {
        try await withScenario("crash pull", direction: "pull") { scenario, _ in
            let remote = scenario.remote
            try await scenario.run(kills: crashKillCount) { iteration, rng in try Self.change(remote, iteration: iteration, rng: &rng) }
            #expect(scenario.tally[.midTransfer] > 0, "\(scenario.context): no kill landed mid-transfer: \(scenario.tally)")
        }
    }

    @Test("push: SIGKILLed 20 times, every rerun converges with nothing lost")
    func push() async throws {
        try await withScenario("crash push", direction: "push") { scenario, _ in
            let local = scenario.local
            try await scenario.run(kills: crashKillCount) { iteration, rng in try Self.change(local, iteration: iteration, rng: &rng) }
            #expect(scenario.tally[.midTransfer] > 0, "\(scenario.context): no kill landed mid-transfer: \(scenario.tally)")
        }
    }

    @Test("pull and push while the application writes through the documents view: SIGKILLed 20 times, no write lost")
    func applicationWrites() async throws {
        try await withScenario("crash pull-and-push with application writes", direction: "pull-and-push") { scenario, _ in
            let (local, remote) = (scenario.local, scenario.remote)
            let half = Self.slice / 2
            // The application also edits replicated documents: the first remote slice's live ones.
            try MixedDataset.seed(remote, range: 0..<half, prefix: "d", seed: scenario.tally.seed)
            let shared = try remote.read { try $0.allDocuments().map(\.id) }
            let writer = try ApplicationWriter(path: local.path, shared: shared, seed: scenario.tally.seed &+ 1)
            scenario.noise = { writer.ids }
            scenario.afterKill = {
                try await writer.pause()
                let missing = try ApplicationWriter.missing(writer.committed, in: local)
                #expect(missing == [], "\(scenario.context): application writes lost after a kill")
            }
            scenario.beforeKilledRun = { writer.resume() }
            // It writes during every killed run, and is paused for the unkilled runs and the
            // comparisons (so both sides can be equal).
            writer.start()
            try await writer.pause()
            try await scenario.run(kills: crashKillCount) { iteration, rng in
                let start = iteration * half
                var touched = start == 0 ? Set((0..<half).map { MixedDataset.id("d", $0) }) : try Self.grow(remote, start: start, count: half, prefix: "d", seed: rng.next())
                touched.formUnion(try Self.grow(local, start: start, count: half, prefix: "e", seed: rng.next()))
                touched.formUnion(try MixedDataset.mutate(remote, range: 0..<start, prefix: "d", count: Self.mutations / 2, rng: &rng))
                touched.formUnion(try MixedDataset.mutate(local, range: 0..<start, prefix: "e", count: Self.mutations / 2, rng: &rng))
                return touched
            }
            try await writer.stop()
            #expect(writer.error == nil, "\(scenario.context): the application writer failed")
            let writes = writer.committed
            #expect(try ApplicationWriter.missing(writes, in: local) == [], "\(scenario.context): locally")
            #expect(try ApplicationWriter.missing(writes, in: remote) == [], "\(scenario.context): on the remote")
            print("\(scenario.name): \(writes.count) application writes (\(Set(writes.map(\.id)).count) documents) kept on both sides")
            #expect(writes.count > 0)
            #expect(scenario.tally[.midTransfer] > 0, "\(scenario.context): no kill landed mid-transfer: \(scenario.tally)")
        }
    }

    /// Adds the next slice of mixed documents; returns their ids.
    static func grow(_ store: DocumentStore, start: Int, count: Int = slice, prefix: String, seed: UInt64) throws -> Set<String> {
        try MixedDataset.seed(store, range: start..<(start + count), prefix: prefix, seed: seed)
        return Set((start..<(start + count)).map { MixedDataset.id(prefix, $0) })
    }
}
