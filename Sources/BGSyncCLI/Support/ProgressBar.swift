import BGSyncReplication
import BGSyncStore
import Foundation
import Synchronization

/// A one-line progress display on stderr, only when stderr is a terminal: phase (pull/push),
/// documents written/read, bytes and rate, redrawn in place with `\r` at most ~10 times a
/// second and cleared at the end.
final class ProgressBar: Sendable {
    private struct State {
        var lastDraw = Date.distantPast
        var drawn = false
        var width = 0
    }

    /// The bar on screen, cleared by the log handler before it writes a line.
    static let active = Mutex<ProgressBar?>(nil)

    private let state = Mutex(State())
    private let descriptor: Int32
    private let started = Date()
    private let interval: Double

    /// A bar on `descriptor`, or nil when it is not a terminal (or `quiet`).
    static func make(descriptor: Int32 = 2, quiet: Bool) -> ProgressBar? {
        guard !quiet, isatty(descriptor) == 1 else { return nil }
        let bar = ProgressBar(descriptor: descriptor)
        active.withLock { $0 = bar }
        return bar
    }

    init(descriptor: Int32, interval: Double = 0.1) {
        self.descriptor = descriptor
        self.interval = interval
    }

    /// Records an update; redraws when the last draw is older than the interval.
    func update(_ progress: ReplicationProgress) {
        state.withLock { state in
            let now = Date()
            guard now.timeIntervalSince(state.lastDraw) >= interval else { return }
            state.lastDraw = now
            let line = Self.line(progress, elapsed: now.timeIntervalSince(started))
            let padding = String(repeating: " ", count: max(0, state.width - line.count))
            BGSyncLogHandler.write("\r" + line + padding, to: descriptor)
            state.width = line.count
            state.drawn = true
        }
    }

    /// Erases the line (call before printing anything else).
    func clear() {
        state.withLock { state in
            guard state.drawn else { return }
            BGSyncLogHandler.write("\r" + String(repeating: " ", count: state.width) + "\r", to: descriptor)
            state.drawn = false
            state.width = 0
            state.lastDraw = .distantPast
        }
    }

    static func line(_ progress: ReplicationProgress, elapsed: Double) -> String {
        let bytes = progress.bytesReceived + progress.bytesSent
        let rate = elapsed > 0 ? Double(bytes) / elapsed : 0
        let c = progress.counters
        return "\(progress.direction.rawValue): \(c.docsWritten) written, \(c.docsRead) read, \(c.missingFound) missing, "
            + "\(ByteSize.format(bytes)) (\(ByteSize.format(Int64(rate)))/s)"
    }
}
