import BGSyncTestSupport
import BGSyncStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Where a SIGKILL landed, judged from both stores before the run and right after the kill.
enum KillLanding: String, CaseIterable {
    /// The run ended on its own before the kill.
    case finishedFirst = "finished before the kill"
    /// Killed before either store changed (starting up, reading feeds).
    case beforeTransfer = "before any write"
    /// Killed after a store changed, before they were equal: mid-transfer.
    case midTransfer = "mid-transfer"
    /// Killed when the stores were already equal (writing the last checkpoint, recording the outcome).
    case afterTransfer = "after the transfer"
}

/// Counts of where the kills of one scenario landed, with the timings used.
struct KillTally: CustomStringConvertible {
    enum Phase: String, CaseIterable {
        case prepare = "changing the stores", killedRuns = "killed runs", reruns = "reruns", check = "checks after kills", compare = "comparing"
    }

    var seed: UInt64
    var referenceDuration = 0.0
    var referenceRequests = 0
    var landings: [KillLanding: Int] = [:]
    var delays: [Double] = []
    var killRequests: [Int] = []
    var phases: [Phase: Double] = [:]
    var started = Date()

    var kills: Int { landings.filter { $0.key != .finishedFirst }.values.reduce(0, +) }
    subscript(_ landing: KillLanding) -> Int { landings[landing] ?? 0 }

    var description: String {
        let parts = KillLanding.allCases.map { "\(self[$0]) \($0.rawValue)" }.joined(separator: ", ")
        let points = zip(killRequests, delays).map { String(format: "%d+%.2fs", $0, $1) }.joined(separator: " ")
        let phases = Phase.allCases.map { "\($0.rawValue) " + String(format: "%.1f s", self.phases[$0] ?? 0) }.joined(separator: ", ")
        return "seed \(seed): \(delays.count) SIGKILLs: \(parts); unkilled run: \(referenceRequests) requests in "
            + String(format: "%.2f s", referenceDuration) + "; kill points (requests+delay) [\(points)]; "
            + String(format: "scenario took %.1f s", Date().timeIntervalSince(started)) + " (\(phases))"
    }
}

/// Each document's id → its leaves and whether the winner is deleted (the changes feed with
/// `style=all_docs`): a cheap picture of a whole store, to tell whether a transfer moved.
func leafSummary(_ store: DocumentStore, excluding excluded: Set<String> = []) throws -> [String: String] {
    try store.read { tx in
        var summary: [String: String] = [:]
        for change in try tx.changes(since: 0) where !excluded.contains(change.id) {
            summary[change.id] = change.leaves.map(\.description).joined(separator: ",") + (change.deleted ? " deleted" : "")
        }
        return summary
    }
}

/// How many kills a crash scenario makes: 20, or `BGSYNC_SOAK` for a longer soak.
var crashKillCount: Int {
    ProcessInfo.processInfo.environment["BGSYNC_SOAK"].flatMap { Int($0) }.map { max(1, $0) } ?? 20
}

/// A crash scenario: a sandboxed job whose local store and remote store the test can read.
///
/// ``run(kills:prepare:)`` makes `kills` iterations of: change the stores (`prepare`), start
/// `bgsync run --force`, SIGKILL it at a random point of its transfer (after a random number of
/// its requests to the server, up to as many as an unkilled run made, plus a random delay), check both SQLite files (`integrity_check`, `foreign_key_check`), rerun to
/// completion (exit 0, synced), then compare both stores: every document's leaves and winner,
/// and in depth (trees, conflict sets, leaf bodies, attachment data) the documents changed in
/// this iteration. At the end, every document in depth, and the state database's history must
/// show each killed run as "process died".
final class CrashScenario {
    let name: String
    let sandbox: JobSandbox
    let job: String
    let local: DocumentStore
    let remote: DocumentStore
    var rng: SeededRandom
    var tally: KillTally
    /// Called after each kill, before the checks (pauses the application writer and checks its
    /// writes).
    var afterKill: () async throws -> Void = {}
    /// Called before each killed run's changes (resumes the application writer).
    var beforeKilledRun: () -> Void = {}
    /// Ids whose churn is not the replication's (the application writer's): left out of the
    /// judgement of where a kill landed, and compared in depth after each rerun.
    var noise: () -> Set<String> = { [] }

    /// How many requests the server has seen.
    let requests: () -> Int

    init(name: String, sandbox: JobSandbox, job: String, local: DocumentStore, remote: DocumentStore,
         requests: @escaping () -> Int, seed: UInt64) {
        self.name = name
        self.requests = requests
        self.sandbox = sandbox
        self.job = job
        self.local = local
        self.remote = remote
        self.rng = SeededRandom(seed: seed)
        self.tally = KillTally(seed: seed)
        print("\(name): seed \(seed) (repeat with BGSYNC_SEED=\(seed))")
    }

    var context: String { "\(name), seed \(tally.seed)" }

    /// `prepare(iteration, rng)` changes the stores before each run and returns the ids it touched.
    func run(kills: Int, prepare: @escaping (Int, inout SeededRandom) throws -> Set<String>) async throws {
        // Iteration 0: an unkilled run, whose length (in requests to the server and in time)
        // bounds the kill points.
        var touched = try await timed(.prepare) { try prepare(0, &self.rng) }
        let reference = try await rerun(touched: touched)
        tally.referenceDuration = reference.duration
        tally.referenceRequests = reference.requests
        // The time between two requests, measured again by every rerun (a load spike during
        // one run must not push every later kill past the end of its run).
        var perRequest = reference.duration / Double(max(1, reference.requests))
        for iteration in 1...kills {
            beforeKilledRun()
            touched = try await timed(.prepare) { try prepare(iteration, &self.rng) }
            let before = try await timed(.check) { (try leafSummary(self.local), try leafSummary(self.remote)) }
            // A kill point: after a random number of the run's requests to the server, then a
            // random part of the mean time between two requests (so that kills also land while
            // the run writes, not only while it waits for the server).
            let requestsBeforeKill = Int.random(in: 1...max(1, reference.requests), using: &rng)
            let delay = Double.random(in: 0...perRequest, using: &rng)
            tally.delays.append(delay)
            tally.killRequests.append(requestsBeforeKill)
            let runStarted = Date()
            let process = try sandbox.start(["run", job, "--force", "--json"])
            let baseline = requests()
            while process.isRunning && requests() - baseline < requestsBeforeKill {
                try await Task.sleep(nanoseconds: 1_000_000)
            }
            try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
            if process.isRunning { kill(process.pid, SIGKILL) }
            let ended = try await process.finish()
            tally.phases[.killedRuns, default: 0] += Date().timeIntervalSince(runStarted)
            let killed = ended.signal == SIGKILL
            if !killed {
                #expect(ended.status == 0, "\(context): iteration \(iteration) ended on its own with \(ended.status): \(ended.stderr)")
            }
            try await afterKill()
            let noise = noise()
            let landing: KillLanding = try await timed(.check) {
                let after = (try leafSummary(self.local, excluding: noise), try leafSummary(self.remote, excluding: noise))
                if !killed { return .finishedFirst }
                if after.0 == before.0.filter({ !noise.contains($0.key) }) && after.1 == before.1.filter({ !noise.contains($0.key) }) {
                    return .beforeTransfer
                }
                return after.0 == after.1 ? .afterTransfer : .midTransfer
            }
            tally.landings[landing, default: 0] += 1
            let files = [sandbox.localStore, sandbox.state + "/state.sqlite"]
            let problems = try await timed(.check) { try files.map { try StoreFileCheck.problems($0) } }
            for (file, found) in zip(files, problems) {
                #expect(found == [], "\(context): \(file) after kill \(iteration) (\(landing.rawValue))")
            }
            let measured = try await rerun(touched: touched)
            if measured.requests > 0 { perRequest = measured.duration / Double(measured.requests) }
        }
        try await compareEverything()
        try await checkHistory()
        print("\(name): \(tally)")
    }

    /// Runs blocking work off the concurrency pool (see ``offPool(_:)``), adding its time to `phase`.
    private func timed<T>(_ phase: KillTally.Phase, _ body: @escaping () throws -> T) async throws -> T {
        let started = Date()
        defer { tally.phases[phase, default: 0] += Date().timeIntervalSince(started) }
        return try await offPool(body)
    }

    /// Runs the job to completion and compares the stores.
    /// - Returns: the run's requests to the server and its duration.
    @discardableResult
    private func rerun(touched: Set<String>) async throws -> (requests: Int, duration: Double) {
        let started = Date()
        let baseline = requests()
        let run = try await sandbox.bgsync(["run", job, "--force", "--json"])
        let measured = (requests: requests() - baseline, duration: Date().timeIntervalSince(started))
        tally.phases[.reruns, default: 0] += measured.duration
        #expect(run.status == 0, "\(context): the rerun failed: \(run.stdout) \(run.stderr)")
        #expect((try? JSONValue.parse(run.stdout))?["outcome"]?.stringValue == "synced", "\(context): \(run.stdout)")
        let deep = touched.union(noise())
        let (summaries, differences) = try await timed(.compare) {
            ((try leafSummary(self.local), try leafSummary(self.remote)),
             StoreContents.differences(try StoreContents.read(self.local, ids: deep), try StoreContents.read(self.remote, ids: deep)))
        }
        if summaries.0 != summaries.1 {
            let ids = Set(summaries.0.keys).union(summaries.1.keys).filter { summaries.0[$0] != summaries.1[$0] }.sorted()
            Issue.record("\(context): after the rerun, \(ids.count) documents differ, e.g. \(ids.prefix(5).map { "\($0): local \(summaries.0[$0] ?? "none") remote \(summaries.1[$0] ?? "none")" }); the rerun: \(run.stdout) \(run.stderr)")
        }
        #expect(differences == [], "\(context): after the rerun")
        return measured
    }

    /// Every document, attachment and leaf on both sides.
    func compareEverything() async throws {
        let (localContents, remoteContents) = try await timed(.compare) {
            (try StoreContents.read(self.local), try StoreContents.read(self.remote))
        }
        #expect(StoreContents.differences(localContents, remoteContents) == [], "\(context): in the end")
        #expect(localContents.documents.count == remoteContents.documents.count)
        print("\(name): \(localContents.documents.count) documents and \(localContents.attachmentCount) attachment blobs equal on both sides")
    }

    /// Each kill that hit a run after it wrote something shows in the history as a run whose
    /// process died; every rerun as synced; nothing is left marked running.
    func checkHistory() async throws {
        let status = try await sandbox.bgsync(["status", "--json", "--history", "1000"])
        let job = try #require(try JSONValue.parse(status.stdout).arrayValue?.first, "\(context): \(status.stdout) \(status.stderr)")
        #expect(job["state"]?.stringValue != "running", "\(context): \(job)")
        let runs = job["history"]?.arrayValue ?? []
        let died = runs.filter { $0["reason"]?.stringValue == "process died" }.count
        let synced = runs.filter { $0["outcome"]?.stringValue == "synced" }.count
        #expect(died >= tally[.midTransfer] + tally[.afterTransfer] && died <= tally.kills, "\(context): \(died) runs died; \(tally)")
        // Every rerun and the first run synced; a kill that lands after a run recorded its
        // success (while it writes metrics, runs hooks or exits) leaves one more.
        let reruns = tally.delays.count + 1 + tally[.finishedFirst]
        #expect(synced >= reruns && synced <= reruns + tally.kills - died, "\(context): \(synced) synced runs; \(tally)")
    }
}
