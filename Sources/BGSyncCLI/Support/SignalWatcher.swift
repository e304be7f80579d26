import Foundation
import Synchronization

/// Turns SIGTERM and SIGINT into a flag the replicator checks at batch boundaries, so that a
/// stopped run checkpoints and exits 75 instead of dying mid-batch. A second signal exits at once.
enum SignalWatcher {
    private static let received = Atomic<Int>(0)
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Installs the handlers (once, from the main command).
    static func install() {
        for signo in [SIGTERM, SIGINT] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler {
                let count = received.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
                if count > 1 { exit(75) }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Whether a stop was requested.
    static var stopRequested: Bool { received.load(ordering: .sequentiallyConsistent) > 0 }
}
