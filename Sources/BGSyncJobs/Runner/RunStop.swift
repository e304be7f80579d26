import Foundation
import Synchronization

/// Why a run was asked to stop.
public enum StopReason: Sendable, Equatable, CustomStringConvertible {
    /// SIGTERM or SIGINT arrived (`bgsync cancel` sends SIGTERM).
    case signal(Int32)
    /// The run's time limit passed (the job's `[schedule] timeout`, `sync --timeout`).
    case deadline(seconds: Double)

    /// `signal` or `deadline`: the `reason_code` of a run it interrupted.
    public var code: String {
        switch self {
        case .signal: return "signal"
        case .deadline: return "deadline"
        }
    }

    /// `stopped by SIGTERM`, `deadline reached (timeout 5 s)`.
    public var description: String {
        switch self {
        case .signal(let signo):
            let name = signo == SIGTERM ? "SIGTERM" : signo == SIGINT ? "SIGINT" : "signal \(signo)"
            return "stopped by \(name)"
        case .deadline(let seconds):
            return "deadline reached (timeout \(DurationText.format(seconds)))"
        }
    }
}

/// The stop switch of one bgsync process. SIGTERM, SIGINT, `bgsync cancel` (a SIGTERM) and a
/// run's deadline pull it; the work it guards, through ``perform(grace:abandonAfter:_:)``, is
/// first asked to stop at its next boundary (``isStopped``, which the replicator checks between
/// batches, so that it checkpoints), then cancelled (in-flight requests, retry waits and child
/// processes end), and finally left behind. A stopped run therefore ends within
/// `grace + abandonAfter` seconds (1.5 s by default) wherever it is.
public final class RunStop: Sendable {
    private struct State {
        var reason: StopReason?
        var observers: [Int: @Sendable (StopReason) -> Void] = [:]
        var nextObserver = 0
    }

    private let state = Mutex(State())

    /// A switch that is not pulled.
    public init() {}

    /// Why the switch was pulled, nil while it is not.
    public var reason: StopReason? { state.withLock { $0.reason } }

    /// Whether the switch was pulled.
    public var isStopped: Bool { reason != nil }

    /// Pulls the switch. The first reason is kept; later calls change nothing.
    public func stop(_ reason: StopReason) {
        let observers: [@Sendable (StopReason) -> Void] = state.withLock { state in
            guard state.reason == nil else { return [] }
            state.reason = reason
            return Array(state.observers.values)
        }
        for observer in observers { observer(reason) }
    }

    /// A switch that is pulled with this one (for the same reason) and can also be pulled on
    /// its own: one job's deadline among several jobs of one process.
    package func child() -> RunStop {
        let child = RunStop()
        _ = observe { child.stop($0) }
        return child
    }

    /// Pulls the switch for `reason` `seconds` from now, unless the returned task is cancelled
    /// first (cancel it when the run ends).
    public func stop(_ reason: StopReason, after seconds: Double) -> Task<Void, Never> {
        Task {
            do {
                try await Task.sleep(for: .seconds(max(0, seconds)))
            } catch {
                return
            }
            self.stop(reason)
        }
    }

    /// Runs `operation` as a task of its own and returns what it returns. Once the switch is
    /// pulled (or if it already is), the task is cancelled after `grace`; if it has still not
    /// ended `abandonAfter` later (a blocking call that does not see cancellation), this returns
    /// without it by throwing ``Abandoned``. Cancelling the caller cancels the task at once.
    package func perform<T: Sendable>(grace: Duration = .milliseconds(500), abandonAfter: Duration = .seconds(1),
                                     _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let work = Task { try await operation() }
        let outcome = Outcome<T>()
        let observer = observe { _ in
            Task {
                try? await Task.sleep(for: grace)
                work.cancel()
                try? await Task.sleep(for: abandonAfter)
                outcome.resolve(.failure(Abandoned()))
            }
        }
        defer { removeObserver(observer) }
        Task { outcome.resolve(await work.result) }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            work.cancel()
        }
    }

    /// Thrown by ``perform(grace:abandonAfter:_:)`` when the stopped work did not end in time.
    package struct Abandoned: Error, CustomStringConvertible {
        /// Creates the error.
        package init() {}
        package var description: String { "the stopped work did not end in time and was left behind" }
    }

    /// Calls `observer` when the switch is pulled, at once if it already is.
    private func observe(_ observer: @escaping @Sendable (StopReason) -> Void) -> Int {
        let (id, reason): (Int, StopReason?) = state.withLock { state in
            let id = state.nextObserver
            state.nextObserver += 1
            if state.reason == nil { state.observers[id] = observer }
            return (id, state.reason)
        }
        if let reason { observer(reason) }
        return id
    }

    private func removeObserver(_ id: Int) {
        _ = state.withLock { $0.observers.removeValue(forKey: id) }
    }
}

/// A result that arrives once, from whichever side is first, and is awaited once.
private final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }

    private let state = Mutex(State())

    /// Sets the result unless one is set; resumes the waiter.
    func resolve(_ result: Result<T, any Error>) {
        let waiter: CheckedContinuation<T, any Error>? = state.withLock { state in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    /// Waits for the result.
    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<T, any Error>? = state.withLock { state in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
