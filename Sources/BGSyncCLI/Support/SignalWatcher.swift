import BGSyncJobs
import Foundation
import Synchronization

/// Turns SIGTERM and SIGINT into a pull of the process's ``RunStop``: the running sync is
/// asked to stop at its next batch boundary and cancelled shortly after wherever it is
/// (checkpoints kept, outcome `interrupted`, exit 75). A second signal exits 75 at once.
enum SignalWatcher {
    private static let received = Atomic<Int>(0)
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Installs the handlers (once, from the main command); signals pull `stop`.
    static func install(_ stop: RunStop) {
        for signo in [SIGTERM, SIGINT] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler {
                let count = received.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
                if count > 1 { exit(75) }
                stop.stop(.signal(signo))
            }
            source.resume()
            sources.append(source)
        }
    }
}
