import BGSyncJobs
import Foundation
import Testing

/// One way to print a time: a skip message and `next_eligible` name the same second.
@Suite("Timestamps")
struct TimestampTests {
    @Test("times are UTC whole seconds, rounded up, never earlier than the time meant")
    func roundedUp() {
        #expect(ISO8601.format(Date(timeIntervalSince1970: 1_795_000_000)) == "2026-11-18T11:06:40Z")
        #expect(ISO8601.format(Date(timeIntervalSince1970: 1_795_000_000.2)) == "2026-11-18T11:06:41Z")
        #expect(ISO8601.format(Date(timeIntervalSince1970: 1_795_000_000.9)) == "2026-11-18T11:06:41Z")
    }

    @Test("a skip's message names the same second as the next eligible time")
    func skipMatchesNextEligible() {
        let until = Date(timeIntervalSince1970: 1_795_000_000.4)
        #expect(SkipReason.notDue(until: until).description(tag: "notes") == "not due until \(ISO8601.format(until))")
        #expect(SkipReason.backingOff(until: until, failures: 2).description(tag: "notes").contains(ISO8601.format(until)))
        #expect(ISO8601.format(until) == "2026-11-18T11:06:41Z")
    }
}
