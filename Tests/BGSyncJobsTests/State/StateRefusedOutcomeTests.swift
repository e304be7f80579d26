@testable import BGSyncJobs
import BGSyncTestSupport
import Foundation
import GRDB
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `refused` outcome (a push stopped by the mass-deletion guard) and the schema version 2
/// that accepts it.
@Suite("State database: refused runs")
struct StateRefusedOutcomeTests {
    static let policy = SchedulePolicy(interval: 3600, flex: 600, backoffDelay: 60)

    @Test("a refused run neither counts as a failure nor as a success; the job keeps its interval")
    func refusedKeepsBackoff() throws {
        try withTemporaryPath { directory in
            let state = try StateDatabase.open(directory: directory)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            let failed = try state.beginRun(tag: "notes", pid: getpid(), jobFile: nil, at: start)
            try state.finishRun(runID: failed, tag: "notes", outcome: .failed, reason: "unreachable", error: "unreachable",
                                exitCode: 69, resultJSON: nil, policy: Self.policy, at: start)
            let later = start.addingTimeInterval(120)
            let refused = try state.beginRun(tag: "notes", pid: getpid(), jobFile: nil, at: later)
            let job = try state.finishRun(runID: refused, tag: "notes", outcome: .refused, reason: "push refused: …", error: "push refused: …",
                                          exitCode: 65, resultJSON: #"{"pull":{"docs_written":3}}"#, policy: Self.policy, at: later)
            #expect(job.lastOutcome == .refused)
            #expect(job.consecutiveFailures == 1)
            #expect(job.lastFailure == start)
            #expect(job.lastSuccess == nil)
            #expect(job.nextEligible == later.addingTimeInterval(3000))
            #expect(try state.history(tag: "notes", limit: 1).first?.outcome == .refused)
            #expect(!RunOutcome.refused.countsAsFailure)
        }
    }

    @Test("a version 1 state database is upgraded in place: rows kept, run ids continue")
    func upgradesVersion1() throws {
        try withTemporaryPath { directory in
            let path = directory + "/" + StateDatabase.fileName
            do {
                let queue = try DatabaseQueue(path: path)
                try queue.write { db in
                    try db.execute(sql: StateSchema.version1)
                    try db.execute(sql: "PRAGMA user_version = 1")
                    try db.execute(sql: "PRAGMA application_id = \(StateSchema.applicationID)")
                    try db.execute(sql: "INSERT INTO jobs (tag, last_outcome, consecutive_failures) VALUES ('notes', 'failed', 2)")
                    for started in [1.0, 2.0] {
                        try db.execute(sql: "INSERT INTO runs (tag, started_at, finished_at, outcome, pid) VALUES ('notes', ?, ?, 'failed', 1)",
                                       arguments: [started, started])
                    }
                    try db.execute(sql: "DELETE FROM runs WHERE started_at = 2")  // the sequence stays at 2
                }
            }
            let state = try StateDatabase.open(directory: directory)
            #expect(try state.job("notes")?.consecutiveFailures == 2)
            #expect(try state.history(tag: "notes", limit: 10).map(\.id) == [1])
            let next = try state.beginRun(tag: "notes", pid: getpid(), jobFile: nil, at: Date())
            #expect(next == 3)
            try state.finishRun(runID: next, tag: "notes", outcome: .refused, reason: "r", error: "r", exitCode: 65, resultJSON: nil,
                                policy: SchedulePolicy(), at: Date())
            #expect(try state.job("notes")?.lastOutcome == .refused)
            let version = try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
            #expect(version == StateSchema.currentVersion)
        }
    }
}
