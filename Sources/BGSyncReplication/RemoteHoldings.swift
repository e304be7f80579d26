import Synchronization

/// What a run's pull proved the remote holds, so that the push of the same run need not ask
/// about it again with `_revs_diff`.
///
/// **What is recorded.** When the pull writes a batch, it looks at every document the batch
/// changed: if all of the document's leaves, after the write, are among the revisions the
/// remote listed for it in `_changes` (style `all_docs`), the document's new local sequence
/// is recorded. Sequences that the batch used up and that are no document's latest any more
/// (a document written twice in one batch) are recorded too: no change row can carry them.
///
/// **Why skipping is safe.** The push reads the local changes feed; a row whose sequence is
/// recorded is the document exactly as the pull left it (any later local write gives it a new
/// sequence), so its leaves are revisions the remote listed. A CouchDB database never loses a
/// revision it listed except by a purge or by being deleted (and perhaps created again). The
/// push therefore uses the record only when, at its start, two things still hold
/// (``RemoteHoldings/confirm(on:)``):
/// * the remote's ``ReplicationPeer/revisionLossMarker`` (`purge_seq`, with
///   `instance_start_time`) is the one it reported when the pull opened it, before it read any
///   change, so nothing was purged since;
/// * the pull's checkpoint on the remote still carries this run's session id, so it is the
///   same database, not one created again or restored from a copy.
///
/// `_revs_diff` would answer "nothing missing" for every skipped row, so the push sends exactly
/// what it would have sent, with ~2 requests instead of one per batch. A peer that cannot tell
/// about purges (a local store file, a server without `purge_seq`) gets no record.
///
/// Memory stays small: the record is a list of ranges, one for an initial pull, and it stops
/// growing (the push then asks about the rest) at ``maximumRanges``.
final class RemoteHoldings: Sendable {
    /// More ranges than this are not recorded (~1 MB).
    static let maximumRanges = 65_536

    private struct State {
        var ranges: SequenceRanges = SequenceRanges()
        /// The remote's marker when the pull opened it; nil when it cannot tell (nothing is
        /// recorded then).
        var marker: String?
        /// The pull's checkpoint on the remote and the session id it was written with.
        var checkpoint: (id: String, sessionID: String)?
    }

    private let state = Mutex(State())

    /// An empty record.
    init() {}

    /// Whether the pull should record what it writes: the remote tells about purges.
    var isRecording: Bool { state.withLock { $0.marker != nil } }

    /// Called when the pull has opened the remote: records its marker (nil when it has none:
    /// nothing is recorded then).
    func remoteOpened(marker: String?) {
        state.withLock { $0.marker = marker }
    }

    /// Called when the pull has written its checkpoint on the remote (the source).
    func checkpointWritten(id: String, sessionID: String) {
        state.withLock { $0.checkpoint = (id, sessionID) }
    }

    /// Records the sequences of one written batch (see ``LocalPeer/write(_:checkpoint:sourceLeaves:)``).
    func record(_ held: [ClosedRange<Int>]) {
        state.withLock { state in
            guard state.marker != nil else { return }
            for range in held {
                guard state.ranges.count < Self.maximumRanges else { return }
                state.ranges.insert(range)
            }
        }
    }

    /// The sequences the push may skip: the record when the remote is unchanged since the
    /// pull opened it (same marker) and still holds the pull's checkpoint with this run's
    /// session id; nil otherwise, or when nothing was recorded. Makes two requests only when
    /// something was recorded.
    func confirm(on remote: any ReplicationPeer) async throws -> SequenceRanges? {
        let (ranges, marker, checkpoint) = state.withLock { ($0.ranges, $0.marker, $0.checkpoint) }
        guard !ranges.isEmpty, let marker, let checkpoint else { return nil }
        guard try await remote.currentRevisionLossMarker() == marker,
              let written = try await remote.readCheckpoint(id: checkpoint.id),
              written["session_id"]?.stringValue == checkpoint.sessionID else { return nil }
        return ranges
    }
}

/// A set of integers kept as sorted, disjoint, non-adjacent closed ranges.
struct SequenceRanges: Sendable, Equatable {
    private(set) var ranges: [ClosedRange<Int>] = []

    /// The number of ranges.
    var count: Int { ranges.count }
    var isEmpty: Bool { ranges.isEmpty }

    /// Adds `range`, merging it with the ranges it overlaps or touches.
    mutating func insert(_ range: ClosedRange<Int>) {
        // Pulls write in sequence order: the common case appends or extends the last range.
        if let last = ranges.last, range.lowerBound > last.upperBound {
            if range.lowerBound == last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound...range.upperBound
            } else {
                ranges.append(range)
            }
            return
        }
        var lower = range.lowerBound, upper = range.upperBound
        // The first range that ends at or after lower - 1 (could touch or overlap).
        let first = firstIndex { $0.upperBound >= lower - 1 }
        var end = first
        while end < ranges.count, ranges[end].lowerBound <= upper + 1 {
            lower = min(lower, ranges[end].lowerBound)
            upper = max(upper, ranges[end].upperBound)
            end += 1
        }
        ranges.replaceSubrange(first..<end, with: [lower...upper])
    }

    /// Whether `value` is in the set.
    func contains(_ value: Int) -> Bool {
        let index = firstIndex { $0.upperBound >= value }
        return index < ranges.count && ranges[index].lowerBound <= value
    }

    /// Binary search: the first index whose range satisfies `predicate` (monotone in index),
    /// or `count`.
    private func firstIndex(where predicate: (ClosedRange<Int>) -> Bool) -> Int {
        var low = 0, high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if predicate(ranges[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
