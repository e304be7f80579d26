import BGSyncJobs
import Foundation
import Testing

/// The decision table: due time with flex, backoff growth and cap, force, cancelled.
@Suite("Schedule decisions")
struct ScheduleDeciderTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)
    static let hour = 3600.0

    static func policy(interval: Double? = 12 * hour, flex: Double = hour) -> SchedulePolicy {
        var policy = SchedulePolicy()
        policy.interval = interval
        policy.flex = flex
        return policy
    }

    static func job(lastSuccess: Date? = nil, failures: Int = 0, lastFailure: Date? = nil, enabled: Bool = true) -> JobRecord {
        JobRecord(tag: "notes", enabled: enabled, lastRun: lastFailure ?? lastSuccess, lastSuccess: lastSuccess,
                  lastFailure: lastFailure, consecutiveFailures: failures)
    }

    @Test("a job never seen runs; the defaults are WorkManager's")
    func firstRun() {
        #expect(ScheduleDecider.decide(job: nil, policy: Self.policy(), now: Self.t0, force: false) == .run)
        let defaults = SchedulePolicy()
        #expect(defaults.interval == nil && defaults.flex == 0 && defaults.timeout == nil)
        #expect(defaults.backoff == .exponential && defaults.backoffDelay == 30 && defaults.backoffMax == 5 * 3600)
    }

    @Test("without an interval every run is due, even right after a success")
    func noInterval() {
        let job = Self.job(lastSuccess: Self.t0)
        #expect(ScheduleDecider.decide(job: job, policy: Self.policy(interval: nil), now: Self.t0.addingTimeInterval(1), force: false) == .run)
        #expect(ScheduleDecider.nextEligible(after: .synced, consecutiveFailures: 0, policy: Self.policy(interval: nil), now: Self.t0) == nil)
    }

    @Test("a periodic job is due from lastSuccess + interval - flex")
    func dueWithFlex() {
        let job = Self.job(lastSuccess: Self.t0)
        let due = Self.t0.addingTimeInterval(11 * Self.hour)
        let policy = Self.policy()
        #expect(ScheduleDecider.decide(job: job, policy: policy, now: Self.t0.addingTimeInterval(60), force: false) == .skip(.notDue(until: due)))
        #expect(ScheduleDecider.decide(job: job, policy: policy, now: due.addingTimeInterval(-1), force: false) == .skip(.notDue(until: due)))
        #expect(ScheduleDecider.decide(job: job, policy: policy, now: due, force: false) == .run)
        #expect(ScheduleDecider.decide(job: job, policy: policy, now: due.addingTimeInterval(30 * 86400), force: false) == .run)
        // Without flex: the whole interval.
        #expect(ScheduleDecider.decide(job: job, policy: Self.policy(flex: 0), now: due, force: false)
            == .skip(.notDue(until: Self.t0.addingTimeInterval(12 * Self.hour))))
        #expect(ScheduleDecider.eligibleAt(job: job, policy: policy, now: Self.t0) == due)
    }

    @Test("flex is clamped to 0…interval")
    func flexClamped() {
        let job = Self.job(lastSuccess: Self.t0)
        #expect(ScheduleDecider.decide(job: job, policy: Self.policy(interval: Self.hour, flex: 5 * Self.hour), now: Self.t0, force: false) == .run)
        #expect(ScheduleDecider.decide(job: job, policy: Self.policy(interval: Self.hour, flex: -60), now: Self.t0, force: false)
            == .skip(.notDue(until: Self.t0.addingTimeInterval(Self.hour))))
    }

    @Test("an edited interval takes effect at the next firing")
    func policyEdits() {
        let job = Self.job(lastSuccess: Self.t0)
        let now = Self.t0.addingTimeInterval(2 * Self.hour)
        #expect(ScheduleDecider.decide(job: job, policy: Self.policy(interval: 12 * Self.hour), now: now, force: false) != .run)
        #expect(ScheduleDecider.decide(job: job, policy: Self.policy(interval: Self.hour, flex: 0), now: now, force: false) == .run)
    }

    @Test("exponential backoff: delay * 2^(n-1), capped at max", arguments: [
        (1, 30.0) as (Int, Double), (2, 60), (3, 120), (4, 240), (5, 480), (6, 960), (10, 15360), (11, 18000), (12, 18000), (100, 18000), (100_000, 18000),
    ])
    func exponential(failures: Int, seconds: Double) {
        #expect(ScheduleDecider.backoffDelay(failures: failures, policy: SchedulePolicy()) == seconds)
    }

    static let linearCases: [(Int, Double)] = [(1, 30), (2, 60), (3, 90), (10, 300), (600, 18000), (Int.max, 18000)]

    @Test("linear backoff: delay * n, capped at max", arguments: linearCases)
    func linear(failures: Int, seconds: Double) {
        var policy = SchedulePolicy()
        policy.backoff = .linear
        #expect(ScheduleDecider.backoffDelay(failures: failures, policy: policy) == seconds)
    }

    @Test("no failures, no backoff; a custom delay and cap")
    func backoffEdges() {
        #expect(ScheduleDecider.backoffDelay(failures: 0, policy: SchedulePolicy()) == 0)
        #expect(ScheduleDecider.backoffDelay(failures: -3, policy: SchedulePolicy()) == 0)
        var policy = SchedulePolicy()
        policy.backoffDelay = 10
        policy.backoffMax = 100
        #expect((1...6).map { ScheduleDecider.backoffDelay(failures: $0, policy: policy) } == [10, 20, 40, 80, 100, 100])
        policy.backoffDelay = 0
        #expect(ScheduleDecider.backoffDelay(failures: 5000, policy: policy) == 0)
    }

    @Test("after failures the job backs off from its last failure")
    func backingOff() {
        let failed = Self.t0.addingTimeInterval(20 * Self.hour)
        let job = Self.job(lastSuccess: Self.t0, failures: 3, lastFailure: failed)
        let until = failed.addingTimeInterval(120)
        let policy = Self.policy()
        #expect(ScheduleDecider.decide(job: job, policy: policy, now: failed.addingTimeInterval(119), force: false)
            == .skip(.backingOff(until: until, failures: 3)))
        #expect(ScheduleDecider.decide(job: job, policy: policy, now: until, force: false) == .run)
        // A job that never succeeded backs off too.
        let never = Self.job(failures: 1, lastFailure: Self.t0)
        #expect(ScheduleDecider.decide(job: never, policy: policy, now: Self.t0.addingTimeInterval(29), force: false)
            == .skip(.backingOff(until: Self.t0.addingTimeInterval(30), failures: 1)))
        #expect(ScheduleDecider.decide(job: never, policy: policy, now: Self.t0.addingTimeInterval(30), force: false) == .run)
    }

    @Test("when both defer the run, the skip names the later time")
    func laterOfBoth() {
        let policy = Self.policy()
        // A (forced) run failed one hour after a success: still not due for ten hours.
        let early = Self.job(lastSuccess: Self.t0, failures: 1, lastFailure: Self.t0.addingTimeInterval(Self.hour))
        #expect(ScheduleDecider.decide(job: early, policy: policy, now: Self.t0.addingTimeInterval(Self.hour + 60), force: false)
            == .skip(.notDue(until: Self.t0.addingTimeInterval(11 * Self.hour))))
        // Failing for a long while: backoff beyond the due time.
        let late = Self.job(lastSuccess: Self.t0, failures: 12, lastFailure: Self.t0.addingTimeInterval(10 * Self.hour))
        #expect(ScheduleDecider.decide(job: late, policy: policy, now: Self.t0.addingTimeInterval(11 * Self.hour), force: false)
            == .skip(.backingOff(until: Self.t0.addingTimeInterval(15 * Self.hour), failures: 12)))
        #expect(ScheduleDecider.eligibleAt(job: late, policy: policy, now: Self.t0.addingTimeInterval(11 * Self.hour))
            == Self.t0.addingTimeInterval(15 * Self.hour))
    }

    @Test("a success resets the backoff")
    func successResets() {
        var job = Self.job(lastSuccess: Self.t0, failures: 5, lastFailure: Self.t0.addingTimeInterval(100))
        job.consecutiveFailures = 0
        job.lastSuccess = Self.t0.addingTimeInterval(200)
        let policy = Self.policy(interval: nil)
        #expect(ScheduleDecider.decide(job: job, policy: policy, now: Self.t0.addingTimeInterval(201), force: false) == .run)
    }

    @Test("--force ignores due time and backoff")
    func force() {
        let job = Self.job(lastSuccess: Self.t0, failures: 9, lastFailure: Self.t0)
        #expect(ScheduleDecider.decide(job: job, policy: Self.policy(), now: Self.t0, force: false) != .run)
        #expect(ScheduleDecider.decide(job: job, policy: Self.policy(), now: Self.t0, force: true) == .run)
    }

    @Test("a cancelled job is skipped, even with --force")
    func cancelled() {
        let job = Self.job(enabled: false)
        for force in [false, true] {
            #expect(ScheduleDecider.decide(job: job, policy: Self.policy(interval: nil), now: Self.t0, force: force) == .skip(.cancelled))
        }
    }

    @Test("times in the future (the clock went back) neither defer nor back off")
    func clockWentBack() {
        let future = Self.t0.addingTimeInterval(365 * 86400)
        #expect(ScheduleDecider.decide(job: Self.job(lastSuccess: future), policy: Self.policy(), now: Self.t0, force: false) == .run)
        #expect(ScheduleDecider.decide(job: Self.job(failures: 20, lastFailure: future), policy: Self.policy(), now: Self.t0, force: false) == .run)
    }

    @Test("next eligible time after each outcome")
    func nextEligible() {
        let policy = Self.policy()
        let now = Self.t0.addingTimeInterval(100)
        #expect(ScheduleDecider.nextEligible(after: .synced, consecutiveFailures: 0, policy: policy, now: now) == now.addingTimeInterval(11 * Self.hour))
        for outcome in [RunOutcome.failed] {
            #expect(ScheduleDecider.nextEligible(after: outcome, consecutiveFailures: 1, policy: policy, now: now) == now.addingTimeInterval(30))
            #expect(ScheduleDecider.nextEligible(after: outcome, consecutiveFailures: 4, policy: policy, now: now) == now.addingTimeInterval(240))
            // Still not due since the last success: the due time is later than the retry.
            #expect(ScheduleDecider.nextEligible(after: outcome, consecutiveFailures: 1, policy: policy, now: now, lastSuccess: Self.t0)
                == Self.t0.addingTimeInterval(11 * Self.hour))
        }
        #expect(ScheduleDecider.nextEligible(after: .skipped, consecutiveFailures: 0, policy: policy, now: now, lastSuccess: Self.t0)
            == Self.t0.addingTimeInterval(11 * Self.hour))
        #expect(ScheduleDecider.nextEligible(after: .skipped, consecutiveFailures: 0, policy: policy, now: now) == nil)
        // An interrupted run keeps the schedule as a skip does: no backoff.
        #expect(ScheduleDecider.nextEligible(after: .interrupted, consecutiveFailures: 0, policy: policy, now: now, lastSuccess: Self.t0)
            == Self.t0.addingTimeInterval(11 * Self.hour))
        #expect(ScheduleDecider.nextEligible(after: .interrupted, consecutiveFailures: 0, policy: policy, now: now) == nil)
        #expect(RunOutcome.failed.countsAsFailure && !RunOutcome.interrupted.countsAsFailure)
        #expect(!RunOutcome.synced.countsAsFailure && !RunOutcome.skipped.countsAsFailure)
    }

    @Test("what nextEligible stores is what decide enforces")
    func storedMatchesDecision() {
        let policy = Self.policy(interval: nil)
        for failures in 1...14 {
            let failedAt = Self.t0.addingTimeInterval(Double(failures) * 1000)
            let job = Self.job(failures: failures, lastFailure: failedAt)
            let next = ScheduleDecider.nextEligible(after: .failed, consecutiveFailures: failures, policy: policy, now: failedAt)!
            #expect(ScheduleDecider.decide(job: job, policy: policy, now: next.addingTimeInterval(-1), force: false)
                == .skip(.backingOff(until: next, failures: failures)))
            #expect(ScheduleDecider.decide(job: job, policy: policy, now: next, force: false) == .run)
        }
    }

    @Test("skip reasons: text and code")
    func skipReasons() {
        let until = Date(timeIntervalSince1970: 1_795_543_200)  // 2026-11-24T18:00:00Z
        let cases: [(SkipReason, String, String)] = [
            (.cancelled, "cancelled (bgsync resume TAG to enable)", "cancelled"),
            (.notDue(until: until), "not due until 2026-11-24T18:00:00Z", "not_due"),
            (.backingOff(until: until, failures: 3), "backing off until 2026-11-24T18:00:00Z after 3 failures", "backing_off"),
            (.backingOff(until: until, failures: 1), "backing off until 2026-11-24T18:00:00Z after 1 failure", "backing_off"),
            (.alreadyRunning(pid: 1234), "already running (pid 1234)", "already_running"),
            (.alreadyRunning(pid: nil), "already running", "already_running"),
            (.constraint("battery at 12% (below 20%)"), "battery at 12% (below 20%)", "constraint"),
        ]
        for (reason, text, code) in cases {
            #expect(reason.description == text)
            #expect("\(reason)" == text)
            #expect(reason.code == code)
        }
        #expect(SkipReason.cancelled.description(tag: "notes") == "cancelled (bgsync resume notes to enable)")
        // Fractions of a second round up: never print a time earlier than the one meant.
        #expect(SkipReason.notDue(until: until.addingTimeInterval(0.2)).description == "not due until 2026-11-24T18:00:01Z")
        #expect(SkipReason.notDue(until: until).until == until && SkipReason.cancelled.until == nil)
    }
}
