import BGSyncJobs
import Foundation
import Synchronization
import Testing

/// The stop switch: ask, then cancel, then leave behind (DESIGN §5 "A run"). Its timers run
/// on the concurrency pool, which the rest of a parallel test run keeps busy: the tests check
/// what happens and in which order with wide margins, not how fast (the binary-level
/// DeadlineTests measure that from the outside).
@Suite("RunStop")
struct RunStopTests {
    @Test("work that ends on its own returns its value; an unpulled switch changes nothing")
    func returnsValue() async throws {
        let stop = RunStop()
        let value = try await stop.perform { 42 }
        #expect(value == 42)
        #expect(!stop.isStopped && stop.reason == nil)
    }

    @Test("work that checks isStopped ends at its boundary, before the grace runs out")
    func boundary() async throws {
        let stop = RunStop()
        let started = ContinuousClock.now
        let result = try await stop.perform(grace: .seconds(600)) {
            while !stop.isStopped { try await Task.sleep(for: .milliseconds(5)) }
            return "stopped at a boundary"
        } thenStop: { stop.stop(.signal(SIGTERM)) }
        #expect(result == "stopped at a boundary")
        #expect(ContinuousClock.now - started < .seconds(300))  // the grace period was not waited for
        #expect(stop.reason == .signal(SIGTERM))
    }

    @Test("waiting work is cancelled after the grace period")
    func cancelled() async throws {
        let stop = RunStop()
        let started = ContinuousClock.now
        await #expect(throws: CancellationError.self) {
            try await stop.perform(grace: .milliseconds(100), abandonAfter: .seconds(600)) {
                try await Task.sleep(for: .seconds(600))
            } thenStop: { stop.stop(.deadline(seconds: 1)) }
        }
        #expect(ContinuousClock.now - started < .seconds(300))
    }

    @Test("work that ignores cancellation is left behind")
    func abandoned() async throws {
        let stop = RunStop()
        let release = Atomic<Bool>(false)
        let started = ContinuousClock.now
        await #expect(throws: RunStop.Abandoned.self) {
            try await stop.perform(grace: .milliseconds(50), abandonAfter: .milliseconds(100)) {
                // A blocking wait that never looks at cancellation (on a thread of its own).
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    Thread {
                        while !release.load(ordering: .relaxed) { usleep(1000) }
                        continuation.resume()
                    }.start()
                }
            } thenStop: { stop.stop(.signal(SIGINT)) }
        }
        release.store(true, ordering: .relaxed)
        #expect(ContinuousClock.now - started < .seconds(300))
    }

    @Test("a switch already pulled still lets work run for the grace period")
    func alreadyStopped() async throws {
        let stop = RunStop()
        stop.stop(.signal(SIGTERM))
        let value = try await stop.perform(grace: .seconds(60)) { "a quick hook" }
        #expect(value == "a quick hook")
        await #expect(throws: CancellationError.self) {
            try await stop.perform(grace: .milliseconds(50), abandonAfter: .seconds(600)) { try await Task.sleep(for: .seconds(600)) }
        }
    }

    @Test("a child switch follows its parent; pulling the child leaves the parent alone")
    func child() async throws {
        let parent = RunStop()
        let first = parent.child()
        first.stop(.deadline(seconds: 5))
        #expect(first.reason == .deadline(seconds: 5) && !parent.isStopped)
        let second = parent.child()
        parent.stop(.signal(SIGTERM))
        #expect(second.reason == .signal(SIGTERM))
        #expect(first.reason == .deadline(seconds: 5))  // the first reason is kept
    }

    @Test("a deadline pulls the switch unless cancelled first")
    func deadline() async throws {
        let stop = RunStop()
        let cancelled = stop.stop(.deadline(seconds: 0.05), after: 0.05)
        cancelled.cancel()
        try await Task.sleep(for: .milliseconds(200))
        #expect(!stop.isStopped)
        _ = stop.stop(.deadline(seconds: 0.05), after: 0.05)
        for _ in 0..<500 where !stop.isStopped { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stop.reason == .deadline(seconds: 0.05))
        #expect(StopReason.deadline(seconds: 300).description == "deadline reached (timeout 5m)")
        #expect(StopReason.signal(SIGTERM).description == "stopped by SIGTERM")
    }
}

extension RunStop {
    /// `perform`, pulling the switch once the work has started.
    func perform<T: Sendable>(grace: Duration = .milliseconds(500), abandonAfter: Duration = .seconds(1),
                              _ operation: @escaping @Sendable () async throws -> T,
                              thenStop: @escaping @Sendable () -> Void) async throws -> T {
        let trigger = Task {
            try? await Task.sleep(for: .milliseconds(50))
            thenStop()
        }
        defer { trigger.cancel() }
        return try await perform(grace: grace, abandonAfter: abandonAfter, operation)
    }
}
