import BGSyncTestSupport
import BGSyncJobs
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the state records must be true (issue 12, point 4), and what a dry run or `check`
/// reads must leave everything as it was (point 3).
@Suite("State honesty")
struct StateHonestyTests {
    static let pid = getpid()
    static let policy = SchedulePolicy(interval: 12 * 3600, flex: 3600, backoffDelay: 30)

    @Test("a configuration error (78) adds no failure and keeps the job due, through later skips, until a run succeeds")
    func configurationErrorStaysDue() throws {
        try withTemporaryPath { tmp in
            let state = try StateDatabase.open(directory: tmp)
            var id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate())
            try state.finishRun(runID: id, tag: "notes", outcome: .synced, reason: nil, error: nil, exitCode: 0, resultJSON: nil,
                                policy: Self.policy, at: stateTestDate(10))
            // A transient failure first: one failure, backing off.
            id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate(20))
            var job = try state.finishRun(runID: id, tag: "notes", outcome: .failed, reason: "unreachable", error: "unreachable",
                                          exitCode: 69, resultJSON: nil, policy: Self.policy, at: stateTestDate(30))
            #expect(job.consecutiveFailures == 1 && job.lastExitCode == 69)
            // Then the configuration breaks: recorded as failed, no further failure, due at once
            // although the last success is recent and a backoff was running.
            id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate(40))
            job = try state.finishRun(runID: id, tag: "notes", outcome: .failed, reason: "bad factory", error: "bad factory",
                                      exitCode: SysExit.config, resultJSON: nil, policy: Self.policy, at: stateTestDate(41))
            #expect(job.lastOutcome == .failed && job.lastExitCode == 78 && job.consecutiveFailures == 1)
            #expect(job.lastFailure == stateTestDate(30) && job.nextEligible == nil)
            #expect(try state.job("notes") == job)
            #expect(ScheduleDecider.decide(job: job, policy: Self.policy, now: stateTestDate(42), force: false) == .run)
            #expect(ScheduleDecider.eligibleAt(job: job, policy: Self.policy, now: stateTestDate(42)) == nil)
            // A skip (a constraint) in between does not hide it either.
            try state.recordSkip(tag: "notes", reason: .constraint("on battery"), pid: Self.pid, jobFile: nil, at: stateTestDate(50))
            let skipped = try #require(try state.job("notes"))
            #expect(skipped.lastOutcome == .skipped && skipped.lastExitCode == 78)
            #expect(ScheduleDecider.decide(job: skipped, policy: Self.policy, now: stateTestDate(51), force: false) == .run)
            // Cancelling still wins.
            try state.setEnabled("notes", false)
            #expect(ScheduleDecider.decide(job: try state.job("notes"), policy: Self.policy, now: stateTestDate(52), force: false)
                == .skip(.cancelled))
            try state.setEnabled("notes", true)
            // Fixed: a success puts the schedule back.
            id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate(60))
            job = try state.finishRun(runID: id, tag: "notes", outcome: .synced, reason: nil, error: nil, exitCode: 0, resultJSON: nil,
                                      policy: Self.policy, at: stateTestDate(61))
            #expect(job.lastExitCode == 0 && job.consecutiveFailures == 0)
            #expect(ScheduleDecider.decide(job: job, policy: Self.policy, now: stateTestDate(62), force: false)
                == .skip(.notDue(until: stateTestDate(61 + 11 * 3600))))
        }
    }

    @Test("openReadOnly creates nothing, reads what is there, and cannot write")
    func readOnly() throws {
        try withTemporaryPath { tmp in
            let directory = tmp + "/missing/bgsync"
            #expect(try StateDatabase.openReadOnly(directory: directory) == nil)
            #expect(!FileManager.default.fileExists(atPath: tmp + "/missing"))

            try StateDatabase.open(directory: tmp).setEnabled("notes", false)
            let path = tmp + "/" + StateDatabase.fileName
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let reader = try #require(try StateDatabase.openReadOnly(directory: tmp))
            #expect(try reader.job("notes")?.enabled == false)
            #expect(throws: StateError.self) { try reader.setEnabled("notes", true) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        }
    }

    @Test("a non-creating lock: absent file → holds nothing and creates nothing; free → held; held → nil")
    func nonCreatingLock() throws {
        try withTemporaryPath { tmp in
            let missing = tmp + "/no-state"
            let none = try #require(try RunLock.acquire(stateDirectory: missing, tag: "notes", creating: false))
            #expect(!none.isHeld)
            #expect(!FileManager.default.fileExists(atPath: missing))
            #expect(try #require(try RunLock.acquire(stateDirectory: tmp, tag: "notes", creating: false)).isHeld == false)
            #expect(!FileManager.default.fileExists(atPath: tmp + "/locks"))

            let real = try #require(try RunLock.acquire(stateDirectory: tmp, tag: "notes"))
            #expect(try RunLock.acquire(stateDirectory: tmp, tag: "notes", creating: false) == nil)
            real.release()
            let dry = try #require(try RunLock.acquire(stateDirectory: tmp, tag: "notes", creating: false))
            #expect(dry.isHeld)
            #expect(try RunLock.acquire(stateDirectory: tmp, tag: "notes") == nil)
            dry.release()
        }
    }
}
