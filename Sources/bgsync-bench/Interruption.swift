import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// SIGINT/SIGTERM: the running `bgsync` child gets SIGTERM, the benchmark stops at its next
/// step and cleans up as after any error (databases it created, the fixture server, the work
/// directory), then exits with 128 + the signal. A second signal exits at once.
enum Interruption {
    private static let state = Mutex<(signal: Int32?, child: pid_t?)>((nil, nil))
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Installs the handlers; call once, before any child runs.
    static func install() {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handle(number) }
            source.resume()
            return source
        }
    }

    private static func handle(_ number: Int32) {
        let (first, child) = state.withLock { state -> (Bool, pid_t?) in
            defer { if state.signal == nil { state.signal = number } }
            return (state.signal == nil, state.child)
        }
        guard first else { exit(128 + number) }
        let message = "bgsync-bench: interrupted by signal \(number); stopping and cleaning up (again to exit at once)\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        if let child { kill(child, SIGTERM) }
    }

    /// The signal received, if any.
    static var received: Int32? { state.withLock { $0.signal } }

    /// Throws once a signal has arrived.
    static func check() throws {
        if let number = received { throw BenchError("interrupted by signal \(number)") }
    }

    /// Records the running child (nil when it has exited); a child started after the signal
    /// is stopped at once.
    static func track(_ child: pid_t?) {
        let stopNow = state.withLock { state -> Bool in
            state.child = child
            return child != nil && state.signal != nil
        }
        if stopNow, let child { kill(child, SIGTERM) }
    }
}
