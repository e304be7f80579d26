import BGSyncTestSupport
import BGSyncJobs
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("State database")
struct StateDatabaseTests {
    static let policy: SchedulePolicy = {
        var policy = SchedulePolicy()
        policy.interval = 12 * 3600
        policy.flex = 3600
        return policy
    }()
    static let pid = getpid()

    static func header(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(100))
    }

    static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    @Test("open creates a 0700 directory and a WAL database stamped BGST, the current version")
    func create() throws {
        try withTemporaryPath { tmp in
            let directory = tmp + "/a/b/bgsync"
            do {
                let state = try StateDatabase.open(directory: directory)
                #expect(state.path == directory + "/state.sqlite")
                #expect(try state.jobs().isEmpty)
                try state.setEnabled("notes", false)
            }  // closed: the WAL is checkpointed into the file
            for created in [tmp + "/a", tmp + "/a/b", directory] {  // the parents it made too
                let attributes = try FileManager.default.attributesOfItem(atPath: created)
                #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o077 } == 0, "\(created)")
            }
            let header = try Self.header(directory + "/state.sqlite")
            #expect(Self.bigEndian(header, at: 68) == 0x4247_5354)  // application_id "BGST"
            #expect(Self.bigEndian(header, at: 60) == 3)  // user_version
            #expect(header[18] == 2 && header[19] == 2)  // WAL
            // An existing directory is used as it is; reopening keeps the data.
            #expect(try StateDatabase.open(directory: directory).job("notes")?.enabled == false)
        }
    }

    @Test("openIfPresent creates nothing")
    func openIfPresent() throws {
        try withTemporaryPath { tmp in
            #expect(try StateDatabase.openIfPresent(directory: tmp + "/none") == nil)
            #expect(!FileManager.default.fileExists(atPath: tmp + "/none"))
            _ = try StateDatabase.open(directory: tmp)
            #expect(try StateDatabase.openIfPresent(directory: tmp)?.path == tmp + "/state.sqlite")
        }
    }

    @Test("a state directory that is a file is an error naming it")
    func directoryIsAFile() throws {
        try withTemporaryPath { tmp in
            _ = FileManager.default.createFile(atPath: tmp + "/file", contents: Data())
            let error = #expect(throws: StateError.self) { try StateDatabase.open(directory: tmp + "/file") }
            #expect(error?.kind == .io)
            #expect(error?.message.contains(tmp + "/file") == true)
        }
    }

    @Test("begin, progress, finish: a sync")
    func roundTrip() throws {
        try withTemporaryPath { tmp in
            let state = try StateDatabase.open(directory: tmp)
            #expect(try state.job("notes") == nil)
            let id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: "/etc/bgsync/jobs/notes.toml", at: stateTestDate())
            var job = try #require(try state.job("notes"))
            #expect(job.isRunning && job.runningPID == Self.pid && job.runningSince == stateTestDate())
            #expect(job.enabled && job.jobFile == "/etc/bgsync/jobs/notes.toml" && job.progress == nil)
            #expect(job.lastRun == nil && job.lastOutcome == nil)
            #expect(try state.history(tag: "notes", limit: 10) == [RunRecord(id: id, tag: "notes", startedAt: stateTestDate(), pid: Self.pid)])

            try state.updateProgress(runID: id, tag: "notes", json: #"{"pull":{"docs_read":10}}"#)
            #expect(try state.job("notes")?.progress == #"{"pull":{"docs_read":10}}"#)
            try state.updateProgress(runID: id, tag: "notes", json: #"{"pull":{"docs_read":20}}"#)
            #expect(try state.job("notes")?.progress == #"{"pull":{"docs_read":20}}"#)

            let result = #"{"pull":{"docs_read":20,"docs_written":20},"push":{"docs_read":0,"docs_written":0}}"#
            job = try state.finishRun(runID: id, tag: "notes", outcome: .synced, reason: nil, error: nil, exitCode: 0,
                                      resultJSON: result, policy: Self.policy, at: stateTestDate(90))
            let expected = JobRecord(tag: "notes", lastRun: stateTestDate(), lastOutcome: .synced, lastExitCode: 0, lastSuccess: stateTestDate(90),
                                     consecutiveFailures: 0, nextEligible: stateTestDate(90 + 11 * 3600), jobFile: "/etc/bgsync/jobs/notes.toml")
            #expect(job == expected)
            #expect(try state.job("notes") == expected)
            #expect(!job.isRunning)
            let run = try #require(try state.history(tag: "notes", limit: 10).first)
            #expect(run == RunRecord(id: id, tag: "notes", startedAt: stateTestDate(), finishedAt: stateTestDate(90), outcome: .synced,
                                     exitCode: 0, result: result, pid: Self.pid))
            #expect(run.duration == 90)
            // The schedule sees it.
            #expect(ScheduleDecider.decide(job: job, policy: Self.policy, now: stateTestDate(3600), force: false)
                == .skip(.notDue(until: stateTestDate(90 + 11 * 3600))))
        }
    }

    @Test("failures grow the backoff; an interrupted run neither counts nor resets; a success resets")
    func failures() throws {
        try withTemporaryPath { tmp in
            let state = try StateDatabase.open(directory: tmp)
            var now = 0.0
            let outcomes: [RunOutcome] = [.failed, .failed, .failed]
            for (index, outcome) in outcomes.enumerated() {
                if index == 1 {
                    // Stopped by a signal or its deadline between two failures: no backoff step.
                    let id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate(now))
                    let job = try state.finishRun(runID: id, tag: "notes", outcome: .interrupted, reason: "stopped by SIGTERM",
                                                  error: nil, exitCode: 75, resultJSON: nil, policy: Self.policy, at: stateTestDate(now + 1))
                    #expect(job.consecutiveFailures == 1 && job.lastOutcome == .interrupted)
                    #expect(job.nextEligible == nil)  // never synced: due at once
                    now += 2
                }
                let id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate(now))
                now += 10
                let job = try state.finishRun(runID: id, tag: "notes", outcome: outcome, reason: "server unreachable",
                                              error: "connection refused", exitCode: 75, resultJSON: nil, policy: Self.policy, at: stateTestDate(now))
                #expect(job.consecutiveFailures == index + 1)
                #expect(job.lastOutcome == outcome && job.lastReason == "server unreachable")
                #expect(job.lastFailure == stateTestDate(now) && job.lastSuccess == nil)
                let delay = ScheduleDecider.backoffDelay(failures: index + 1, policy: Self.policy)
                #expect(delay == [30.0, 60, 120][index])
                #expect(job.nextEligible == stateTestDate(now + delay))
                #expect(ScheduleDecider.decide(job: job, policy: Self.policy, now: stateTestDate(now + 1), force: false)
                    == .skip(.backingOff(until: stateTestDate(now + delay), failures: index + 1)))
                now += delay
            }
            #expect(try state.history(tag: "notes", limit: 10).map(\.error) == ["connection refused", "connection refused", nil, "connection refused"])
            let id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate(now))
            let job = try state.finishRun(runID: id, tag: "notes", outcome: .synced, reason: nil, error: nil, exitCode: 0,
                                          resultJSON: "{}", policy: Self.policy, at: stateTestDate(now + 5))
            #expect(job.consecutiveFailures == 0 && job.lastSuccess == stateTestDate(now + 5) && job.lastReason == nil)
            #expect(job.nextEligible == stateTestDate(now + 5 + 11 * 3600))
        }
    }

    @Test("a skip is history only: backoff, success and a running run are untouched")
    func skips() throws {
        try withTemporaryPath { tmp in
            let state = try StateDatabase.open(directory: tmp)
            let first = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: "/j.toml", at: stateTestDate())
            let before = try state.finishRun(runID: first, tag: "notes", outcome: .failed, reason: "unreachable", error: "refused",
                                             exitCode: 69, resultJSON: nil, policy: Self.policy, at: stateTestDate(1))
            let reason = SkipReason.backingOff(until: stateTestDate(31), failures: 1)
            try state.recordSkip(tag: "notes", reason: reason, pid: 4242, jobFile: nil, at: stateTestDate(10))
            var after = try #require(try state.job("notes"))
            #expect(after.lastOutcome == .skipped && after.lastReason == reason.description && after.lastRun == stateTestDate(10))
            #expect(after.consecutiveFailures == 1 && after.lastFailure == before.lastFailure && after.nextEligible == before.nextEligible)
            #expect(after.lastSuccess == nil && after.jobFile == "/j.toml")
            let skip = try #require(try state.history(tag: "notes", limit: 1).first)
            #expect(skip.outcome == .skipped && skip.reason == reason.description && skip.pid == 4242)
            #expect(skip.startedAt == stateTestDate(10) && skip.finishedAt == stateTestDate(10) && skip.exitCode == 0)

            // "Already running" while a run is in progress: the run stays visible, and so does the
            // job's last outcome; the skip is in the history only.
            let running = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate(40))
            try state.updateProgress(runID: running, tag: "notes", json: "{}")
            try state.recordSkip(tag: "notes", reason: .alreadyRunning(pid: Self.pid), pid: 4243, jobFile: nil, at: stateTestDate(50))
            after = try #require(try state.job("notes"))
            #expect(after.runningPID == Self.pid && after.progress == "{}")
            #expect(after.lastOutcome == .skipped && after.lastReason == reason.description && after.lastRun == stateTestDate(10))
            #expect(try state.history(tag: "notes", limit: 1).first?.reason == "already running (pid \(Self.pid))")
            try state.finishRun(runID: running, tag: "notes", outcome: .synced, reason: nil, error: nil, exitCode: 0, resultJSON: nil,
                                policy: Self.policy, at: stateTestDate(60))
            try state.recordSkip(tag: "notes", reason: .alreadyRunning(pid: nil), pid: 4244, jobFile: nil, at: stateTestDate(70))
            after = try #require(try state.job("notes"))
            #expect(after.lastOutcome == .synced && after.lastReason == nil && after.lastRun == stateTestDate(40))

            // A cancelled skip names the tag; a skip creates the job's record.
            try state.recordSkip(tag: "other", reason: .cancelled, pid: 1, jobFile: "/o.toml", at: stateTestDate())
            #expect(try state.job("other")?.lastReason == "cancelled (bgsync resume other to enable)")
            #expect(try state.job("other")?.jobFile == "/o.toml")
        }
    }

    @Test("cancel and resume, also before the first run")
    func enabled() throws {
        try withTemporaryPath { tmp in
            let state = try StateDatabase.open(directory: tmp)
            try state.setEnabled("notes", false)
            let job = try #require(try state.job("notes"))
            #expect(job == JobRecord(tag: "notes", enabled: false))
            #expect(ScheduleDecider.decide(job: job, policy: SchedulePolicy(), now: stateTestDate(), force: true) == .skip(.cancelled))
            try state.setEnabled("notes", true)
            #expect(try state.job("notes")?.enabled == true)
            // The failures survive a cancel/resume.
            let id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate())
            _ = try state.finishRun(runID: id, tag: "notes", outcome: .failed, reason: nil, error: nil, exitCode: 75,
                                    resultJSON: nil, policy: Self.policy, at: stateTestDate())
            try state.setEnabled("notes", false)
            try state.setEnabled("notes", true)
            #expect(try state.job("notes")?.consecutiveFailures == 1)
        }
    }

    @Test("history: newest first, per tag or all, limited; pruning keeps the newest per tag")
    func historyAndPruning() throws {
        try withTemporaryPath { tmp in
            let state = try StateDatabase.open(directory: tmp)
            var ids: [String: [Int64]] = [:]
            for index in 0..<5 {
                for tag in ["a", "b"] {
                    let id = try state.beginRun(tag: tag, pid: Self.pid, jobFile: nil, at: stateTestDate(Double(index)))
                    try state.finishRun(runID: id, tag: tag, outcome: .synced, reason: nil, error: nil, exitCode: 0,
                                        resultJSON: nil, policy: SchedulePolicy(), at: stateTestDate(Double(index)))
                    ids[tag, default: []].append(id)
                }
            }
            #expect(try state.history(tag: "a", limit: 100).map(\.id) == ids["a"]!.reversed())
            #expect(try state.history(tag: "a", limit: 2).map(\.id) == Array(ids["a"]!.reversed().prefix(2)))
            #expect(try state.history(tag: nil, limit: 3).map(\.tag) == ["b", "a", "b"])
            #expect(try state.history(tag: nil, limit: 100).count == 10)
            #expect(try state.history(tag: "zzz", limit: 100).isEmpty)
            #expect(try state.jobs().map(\.tag) == ["a", "b"])

            // A running run is never pruned, even when older than the kept ones.
            let running = try state.beginRun(tag: "c", pid: Self.pid, jobFile: nil, at: stateTestDate())
            try state.recordSkip(tag: "c", reason: .alreadyRunning(pid: nil), pid: 2, jobFile: nil, at: stateTestDate(1))
            try state.recordSkip(tag: "c", reason: .alreadyRunning(pid: nil), pid: 2, jobFile: nil, at: stateTestDate(2))

            try state.pruneHistory(keepPerTag: 2)
            #expect(try state.history(tag: "a", limit: 100).map(\.id) == Array(ids["a"]!.suffix(2).reversed()))
            #expect(try state.history(tag: "b", limit: 100).map(\.id) == Array(ids["b"]!.suffix(2).reversed()))
            #expect(try state.history(tag: "c", limit: 100).count == 3)
            try state.pruneHistory(keepPerTag: 0)
            #expect(try state.history(tag: nil, limit: 100).map(\.id) == [running])
            #expect(try state.jobs().count == 3)
        }
    }

    @Test("a run whose process died shows as failed, and the next run records it")
    func processDied() throws {
        try withTemporaryPath { tmp in
            let state = try StateDatabase.open(directory: tmp)
            let dead = try StateTestProcess.deadPID()
            #expect(!StateDatabase.isAlive(pid: dead) && !state.isAlive(pid: dead))
            #expect(state.isAlive(pid: Self.pid) && StateDatabase.isAlive(pid: 1))
            #expect(!StateDatabase.isAlive(pid: 0) && !StateDatabase.isAlive(pid: -1))

            let abandoned = try state.beginRun(tag: "notes", pid: dead, jobFile: nil, at: stateTestDate())
            try state.updateProgress(runID: abandoned, tag: "notes", json: #"{"pull":{}}"#)
            let shown = try #require(try state.job("notes"))
            let expected = JobRecord(tag: "notes", lastRun: stateTestDate(), lastOutcome: .failed, lastReason: "process died",
                                     lastFailure: stateTestDate(), consecutiveFailures: 1)
            #expect(shown == expected)
            #expect(!shown.isRunning)
            #expect(try state.jobs() == [expected])
            let history = try state.history(tag: "notes", limit: 10)
            #expect(history.map(\.outcome) == [.failed] && history.map(\.reason) == ["process died"])
            // Its backoff applies.
            #expect(ScheduleDecider.decide(job: shown, policy: SchedulePolicy(), now: stateTestDate(10), force: false)
                == .skip(.backingOff(until: stateTestDate(30), failures: 1)))

            // The next run (holding the lock) records the dead run in the history.
            let next = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate(60))
            let job = try #require(try state.job("notes"))
            #expect(job.runningPID == Self.pid && job.consecutiveFailures == 1 && job.lastOutcome == .failed && job.progress == nil)
            let runs = try state.history(tag: "notes", limit: 10)
            #expect(runs.map(\.id) == [next, abandoned])
            #expect(runs[1].outcome == .failed && runs[1].reason == "process died" && runs[1].finishedAt == nil)
            #expect(runs[1].error?.contains("process \(dead)") == true)
            let done = try state.finishRun(runID: next, tag: "notes", outcome: .failed, reason: nil, error: nil, exitCode: 75,
                                           resultJSON: nil, policy: SchedulePolicy(), at: stateTestDate(70))
            #expect(done.consecutiveFailures == 2 && done.nextEligible == stateTestDate(130))
        }
    }

    @Test("invalid tags, unknown runs and non-JSON progress are clear errors")
    func errors() throws {
        try withTemporaryPath { tmp in
            let state = try StateDatabase.open(directory: tmp)
            for tag in ["", "../x", "a/b", ".hidden", "-x", "a b", "é", String(repeating: "a", count: 129)] {
                let error = #expect(throws: StateError.self, "\(tag)") { _ = try state.beginRun(tag: tag, pid: 1, jobFile: nil, at: stateTestDate()) }
                #expect(error?.kind == .invalidTag)
                #expect(error?.message.contains("invalid job tag") == true)
                #expect(throws: StateError.self) { try state.setEnabled(tag, false) }
                #expect(throws: StateError.self) { try state.recordSkip(tag: tag, reason: .cancelled, pid: 1, jobFile: nil, at: stateTestDate()) }
            }
            for tag in ["a", "notes", "Notes_2.backup-x", "9", String(repeating: "a", count: 128)] {
                #expect(JobTag.isValid(tag), "\(tag)")
            }
            let unknown = #expect(throws: StateError.self) {
                try state.finishRun(runID: 99, tag: "notes", outcome: .synced, reason: nil, error: nil, exitCode: 0, resultJSON: nil,
                                    policy: SchedulePolicy(), at: stateTestDate())
            }
            #expect(unknown?.kind == .unknownRun && unknown?.message.contains(state.path) == true)
            let id = try state.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate())
            let notJSON = #expect(throws: StateError.self) { try state.updateProgress(runID: id, tag: "notes", json: "{oops") }
            #expect(notJSON?.message.contains(state.path) == true)
        }
    }

    @Test("two handles on one file see each other's writes")
    func twoHandles() throws {
        try withTemporaryPath { tmp in
            let one = try StateDatabase.open(directory: tmp)
            let two = try StateDatabase.open(directory: tmp)
            let id = try one.beginRun(tag: "notes", pid: Self.pid, jobFile: nil, at: stateTestDate())
            try two.updateProgress(runID: id, tag: "notes", json: "[1]")
            #expect(try one.job("notes")?.progress == "[1]")
        }
    }

    static func expectRefused(_ directory: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let file = directory + "/state.sqlite"
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        let listing = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let error = #expect(throws: StateError.self, sourceLocation: sourceLocation) { _ = try StateDatabase.open(directory: directory) }
        #expect(error?.kind == .notAStateDatabase, "\(error?.message ?? "")", sourceLocation: sourceLocation)
        #expect(error?.message.contains(file) == true, "\(error?.message ?? "")", sourceLocation: sourceLocation)
        #expect(error?.path == file, sourceLocation: sourceLocation)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, sourceLocation: sourceLocation)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == listing, sourceLocation: sourceLocation)
    }

    @Test("a corrupt state file (random bytes) is refused, named, and left untouched")
    func corrupt() throws {
        try withTemporaryPath { tmp in
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try Data(bytes).write(to: URL(fileURLWithPath: tmp + "/state.sqlite"))
            try Self.expectRefused(tmp)
            // A valid SQLite header followed by garbage.
            try Data(Array("SQLite format 3\0".utf8) + bytes).write(to: URL(fileURLWithPath: tmp + "/state.sqlite"))
            try Self.expectRefused(tmp)
        }
    }

    @Test("another SQLite database (a bgsync document store) is not taken for a state database",
          .enabled(if: StateTestProcess.which("sqlite3") != nil, "the sqlite3 shell is not installed"))
    func foreignDatabase() throws {
        let sqlite = try #require(StateTestProcess.which("sqlite3"))
        try withTemporaryPath { tmp in
            let create = try TestProcess.run(sqlite, [tmp + "/state.sqlite", "PRAGMA application_id = 1111970649; CREATE TABLE t (x);"],
                                             stdout: .discard, stderr: .discard)
            try #require(create.status == 0)
            try Self.expectRefused(tmp)
        }
    }
}
